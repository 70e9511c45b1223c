/**
 * A runner pod (`mcp-v8 runner`): the same RunnerProcess as a local child runner, spoken to over
 * NATS (subjects in cluster/runner-subjects.ts). Must run under `--no-node-snapshot` (isolated-vm).
 *
 * Runs without `execution` behave as they always have: output, chain requests and outcomes go to
 * the pool on the runner's `.out` subject. Cluster runs (with `execution`) are the pod's own
 * business (cluster-runs.ts): output to JetStream, heaps in the tenant's S3 prefix, outcomes
 * published durably.
 *
 * SIGTERM drains: runs already received finish (and their outcomes are published), new ones are
 * refused, then the process exits.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { FailureReason, endedOutcome, failureError } from '../../core/index.ts';
import {
  heartbeatSubject,
  runnerSubjects,
  type RunnerAnnouncement,
  type RunnerSubjects,
} from '../../cluster/runner-subjects.ts';
import { TenantHeapStores } from '../../cluster/tenant-heap-stores.ts';
import { connectNats } from '../../cluster/connection-settings.ts';
import { RunMessageSchema, type RunnerMessage } from '../protocol.ts';
import { exitOnCatastrophicError } from '../catastrophic-exit.ts';
import { RunnerProcess, type RunnerOptions } from '../runner-process.ts';
import { ClusterRuns } from './cluster-runs.ts';
import {
  RUNNER_OPTIONS_ENV,
  parseRunnerPodConfig,
  readRunnerOptions,
  type RunnerPodConfig,
} from './config.ts';
import { ClusterHeaps } from './heap-side.ts';
import { OutcomePublisher } from './outcome-publisher.ts';
import { ClusterOutputSink, jetStreamOutputLogs } from './output-sink.ts';

/** Most execution ids an announcement lists (the schema's bound). */
const MAX_ANNOUNCED = 64;
/** Cluster execution ids remembered to refuse a run sent twice. */
const MAX_REMEMBERED_RUNS = 10_000;

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

/** The wiring of one pod: NATS subjects ↔ RunnerProcess, with cluster runs set aside. */
class RunnerPod {
  readonly #nc: NatsConnection;
  readonly #config: RunnerPodConfig;
  readonly #subjects: RunnerSubjects;
  readonly #log: pino.Logger;
  readonly #runner: RunnerProcess;
  readonly #outcomes: OutcomePublisher;
  readonly #cluster: ClusterRuns;
  /** Runs received and not yet reported: what a drain waits for, and what announcements list. */
  readonly #inFlight = new Set<string>();
  /** Cluster runs received, oldest first (bounded): each is run at most once. */
  readonly #received = new Set<string>();
  #draining = false;
  #running = 0;

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
    this.#cluster = new ClusterRuns({
      runnerId: config.runnerId,
      sink: new ClusterOutputSink(jetStreamOutputLogs(nc)),
      heaps: new ClusterHeaps(stores),
      publish: (namespace, msg) => this.#outcomes.publish(namespace, msg),
      toRunner: (msg) => this.#runner.handle(msg),
      onDone: (executionId) => this.#inFlight.delete(executionId),
    });
    this.#runner = new RunnerProcess(options, (msg) => this.#send(msg), exitOnCatastrophicError);
  }

  async start(): Promise<void> {
    // Created up front so the first outcome is not delayed; a failure is retried per outcome.
    await this.#outcomes.ensureStream().catch((err: unknown) => {
      this.#log.warn(`outcome stream not ready yet: ${String(err)}`);
    });
    this.#nc.subscribe(this.#subjects.in, {
      callback: (err, msg) => {
        if (!err) this.#onParent(msg.data);
      },
    });
    process.once('SIGTERM', () => this.#drain());
    void this.#nc.closed().then((err) => {
      if (this.#draining) return;
      // Closed without a drain (reconnects are unlimited, so this is fatal): nobody reads our results.
      process.stderr.write(`runner: NATS connection closed${err ? `: ${err.message}` : ''}\n`);
      this.#runner.stop();
      process.exit(1);
    });
    await this.#runner.start().catch((err: unknown) => exit(`could not start: ${String(err)}`, 1));
  }

  #onParent(data: Uint8Array): void {
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(data));
    } catch {
      process.stderr.write('runner: ignored a message that is not JSON\n');
      return;
    }
    const run = RunMessageSchema.safeParse(raw);
    if (!run.success) {
      const cancel = raw as { type?: unknown; executionId?: unknown };
      if (cancel?.type === 'cancel' && typeof cancel.executionId === 'string')
        this.#cluster.cancel(cancel.executionId);
      this.#runner.handle(raw);
      return;
    }
    const msg = run.data;
    // A controller that took over re-sends a run its runner does not list; if this pod did get
    // it after all, it must not run it a second time.
    if (ClusterRuns.isCluster(msg)) {
      if (this.#received.has(msg.executionId)) {
        this.#log.warn(`ignored a second run of ${msg.executionId}`);
        return;
      }
      this.#received.add(msg.executionId);
      if (this.#received.size > MAX_REMEMBERED_RUNS)
        this.#received.delete(this.#received.values().next().value!);
    }
    if (this.#draining) {
      // Refused, not dropped: the pool learns at once instead of at the deadline.
      const error = failureError(FailureReason.RunnerCrashed, 'the runner is shutting down');
      const outcome = endedOutcome('failed', error, msg.heapMb, 0);
      if (ClusterRuns.isCluster(msg)) {
        this.#inFlight.add(msg.executionId);
        this.#cluster.refuse(msg, outcome);
      } else this.#publish(this.#subjects.out, { type: 'outcome', executionId: msg.executionId, outcome });
      return;
    }
    this.#inFlight.add(msg.executionId);
    if (ClusterRuns.isCluster(msg)) this.#cluster.start(msg);
    else this.#runner.handle(raw);
  }

  #send(msg: RunnerMessage): void {
    if (this.#cluster.fromRunner(msg)) return;
    if (msg.type === 'heartbeat') this.#running = msg.running;
    if (msg.type === 'outcome') this.#inFlight.delete(msg.executionId);
    this.#publish(this.#subjects.out, msg);
    if (msg.type === 'ready') this.#announce(msg.pid);
    else if (msg.type === 'heartbeat') this.#announce(process.pid);
  }

  #announce(pid: number): void {
    const a: RunnerAnnouncement = {
      runnerId: this.#config.runnerId,
      pid,
      running: this.#running,
      draining: this.#draining,
      executions: [...this.#inFlight].slice(0, MAX_ANNOUNCED),
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
    this.#draining = true;
    this.#announce(process.pid);
    const deadline = Date.now() + this.#config.drainTimeoutMs;
    const timer = setInterval(() => {
      if (this.#inFlight.size > 0 && Date.now() < deadline) return;
      clearInterval(timer);
      this.#runner.stop();
      void this.#nc
        .drain()
        .catch(() => undefined)
        .finally(() => process.exit(0));
    }, 50);
  }
}
