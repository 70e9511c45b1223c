/**
 * A runner pod (`mcp-v8 runner`): the same RunnerProcess as a local child runner, hosted by the
 * pod (pod-host.ts) instead of a parent process. Runs and cancels come over NATS (subjects in
 * cluster/runner-subjects.ts), each run naming its Execution; output, heaps and outcomes are the
 * pod's own business. Must run under `--no-node-snapshot` (isolated-vm).
 *
 * SIGTERM drains: runs already received finish (and their outcomes are published), new ones are
 * refused, then the process exits.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import {
  RunnerInMessageSchema,
  decodeJson,
  heartbeatSubject,
  runnerSubjects,
  type PodRunMessage,
  type RunnerAnnouncement,
  type RunnerOutMessage,
  type RunnerSubjects,
} from '../../cluster/runner-subjects.ts';
import { TenantHeapStores } from '../../cluster/tenant-heap-stores.ts';
import { connectNats } from '../../cluster/connection-settings.ts';
import { exitOnCatastrophicError } from '../catastrophic-exit.ts';
import { RunnerProcess, type RunnerOptions } from '../runner-process.ts';
import {
  RUNNER_OPTIONS_ENV,
  parseRunnerPodConfig,
  readRunnerOptions,
  type RunnerPodConfig,
} from './config.ts';
import { ClusterHeaps } from './heap-side.ts';
import { OutcomePublisher } from './outcome-publisher.ts';
import { TenantOutputLogs, jetStreamOutputLogs } from './output-sink.ts';
import { PodHost } from './pod-host.ts';
import { PodRuns } from './pod-runs.ts';

/** Most execution ids an announcement lists (the schema's bound). */
const MAX_ANNOUNCED = 64;

function exit(message: string, code: number): never {
  process.stderr.write(`runner: ${message}\n`);
  process.exit(code);
}

/**
 * Starts the runner pod from its arguments (after the `runner` role word) and environment;
 * resolves once it is connected and ready. A bad setting prints one line and exits 2; NATS
 * unreachable at start exits 1. MCPV8_RUNNER_OPTIONS is removed from `env` once read.
 */
export async function startRunnerPod(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let config: RunnerPodConfig;
  let options: RunnerOptions;
  let subjects: RunnerSubjects;
  try {
    config = parseRunnerPodConfig(argv, env);
    options = readRunnerOptions(config.optionsFile, env);
    subjects = runnerSubjects(config.subjectPrefix, config.runnerId);
  } catch (err) {
    delete env[RUNNER_OPTIONS_ENV];
    exit(err instanceof Error ? err.message : String(err), 2);
  }
  const log = pino({ name: 'runner', base: { runnerId: config.runnerId } }, pino.destination({ fd: 2 }));

  // A pod outlives NATS restarts: it keeps trying rather than die and lose live heaps.
  const nc: NatsConnection = await connectNats(
    { url: config.natsUrl, ...(config.natsToken !== undefined && { token: config.natsToken }) },
    `mcpv8-runner-${config.runnerId}`,
  ).catch((err: unknown) => exit(`cannot connect to NATS: ${String(err)}`, 1));

  const pod = new RunnerPod(nc, config, options, subjects, log);
  await pod.start();
}

/** The wiring of one pod: NATS subjects ↔ admission ↔ RunnerProcess ↔ its host. */
class RunnerPod {
  readonly #nc: NatsConnection;
  readonly #config: RunnerPodConfig;
  readonly #subjects: RunnerSubjects;
  readonly #log: pino.Logger;
  readonly #runner: RunnerProcess<PodRunMessage>;
  readonly #outcomes: OutcomePublisher;
  readonly #runs: PodRuns;

  constructor(
    nc: NatsConnection,
    config: RunnerPodConfig,
    options: RunnerOptions,
    subjects: RunnerSubjects,
    log: pino.Logger,
  ) {
    this.#nc = nc;
    this.#config = config;
    this.#subjects = subjects;
    this.#log = log;
    this.#outcomes = new OutcomePublisher(nc, {
      prefix: config.subjectPrefix,
      fallbackSubject: subjects.out,
      warn: (message) => log.warn(message),
    });
    const stores = config.s3 && TenantHeapStores.fromSettings(config.s3);
    const heaps = new ClusterHeaps(stores);
    const host = new PodHost({
      runnerId: config.runnerId,
      outputs: new TenantOutputLogs(jetStreamOutputLogs(nc)),
      heaps,
      publish: (namespace, msg) => this.#outcomes.publish(namespace, msg),
      report: (msg) => this.#report(msg),
      onDone: (executionId) => {
        this.#runs.done(executionId);
        // Idle again, said at once: a spent pod is discarded as soon as it runs nothing.
        this.#announce();
      },
    });
    this.#runner = new RunnerProcess(options, host, exitOnCatastrophicError);
    this.#runs = new PodRuns({
      heaps,
      runner: this.#runner,
      end: (run, outcome) => host.outcome(run, outcome),
      refuse: (run, refusal) =>
        this.#publish(this.#subjects.out, { type: 'refused', executionId: run.executionId, ...refusal }),
      runsPerPod: options.runsPerPod,
      warn: (message) => log.warn(message),
    });
  }

  async start(): Promise<void> {
    // Created up front so the first outcome is not delayed; a failure is retried per outcome.
    await this.#outcomes.ensureStream().catch((err: unknown) => {
      this.#log.warn(`outcome stream not ready yet: ${String(err)}`);
    });
    this.#nc.subscribe(this.#subjects.in, {
      callback: (err, msg) => {
        if (!err) this.#onMessage(msg.data);
      },
    });
    process.once('SIGTERM', () => this.#drain());
    void this.#nc.closed().then((err) => {
      if (this.#runs.draining) return;
      // Closed without a drain (reconnects are unlimited, so this is fatal): nobody reads our results.
      process.stderr.write(`runner: NATS connection closed${err ? `: ${err.message}` : ''}\n`);
      this.#runner.stop();
      process.exit(1);
    });
    await this.#runner.start().catch((err: unknown) => exit(`could not start: ${String(err)}`, 1));
  }

  #onMessage(data: Uint8Array): void {
    const parsed = RunnerInMessageSchema.safeParse(decodeJson(data));
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.#log.warn(`ignored an invalid message (${issue?.path.join('.') || 'message'}: ${issue?.message})`);
      return;
    }
    const msg = parsed.data;
    if (msg.type === 'cancel') return this.#runs.cancel(msg.executionId);
    const admitted = this.#runs.claim.admitted;
    this.#runs.receive(msg);
    // A new claim is told at once, not at the next heartbeat: any other pool (a controller
    // taking over) stops sending this pod what it would refuse.
    if (this.#runs.claim.admitted !== admitted) this.#announce();
  }

  /**
   * Ready and heartbeats: to the pool on `.out`, and announced to whoever takes over (a pool gives
   * a runner no work before it has heard its claim in an announcement).
   */
  #report(msg: RunnerOutMessage): void {
    this.#publish(this.#subjects.out, msg);
    this.#announce();
  }

  #announce(): void {
    const a: RunnerAnnouncement = {
      runnerId: this.#config.runnerId,
      pid: process.pid,
      // Every run the runner runs is in flight from its receipt until its outcome is out: what the
      // pod has in hand, at least what the runner runs.
      running: this.#runs.inFlight.size,
      draining: this.#runs.draining,
      executions: [...this.#runs.inFlight].slice(0, MAX_ANNOUNCED),
      ...this.#runs.claim,
    };
    this.#publish(heartbeatSubject(this.#config.subjectPrefix), a);
  }

  #publish(subject: string, msg: unknown): void {
    try {
      if (!this.#nc.isClosed()) this.#nc.publish(subject, JSON.stringify(msg));
    } catch (err) {
      // E.g. larger than the server's max_payload: the pool will see the execution time out.
      this.#log.warn(`could not publish to ${subject}: ${String(err)}`);
    }
  }

  #drain(): void {
    this.#runs.drain();
    this.#announce();
    const deadline = Date.now() + this.#config.drainTimeoutMs;
    const timer = setInterval(() => {
      if (this.#runs.inFlight.size > 0 && Date.now() < deadline) return;
      clearInterval(timer);
      this.#runner.stop();
      void this.#nc
        .drain()
        .catch(() => undefined)
        .finally(() => process.exit(0));
    }, 50);
  }
}
