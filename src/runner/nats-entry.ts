/**
 * Entry point of a runner pod: the same RunnerProcess as a local child runner, spoken to over
 * NATS instead of IPC (subjects in cluster/runner-subjects.ts). Must be started with
 * `--no-node-snapshot` (isolated-vm needs it).
 *
 *   node --no-node-snapshot nats-entry.ts --nats-url nats://… --runner-id <pod name>
 *        [--options-file <path to JSON>] [--subject-prefix mcpv8] [--drain-timeout-ms 30000]
 *
 * Runner options (which may hold secrets such as injected fetch headers) come from the JSON file
 * named by `--options-file` (a mounted Secret) or from the env var MCPV8_RUNNER_OPTIONS, never
 * from the command line, which any process on the node can read.
 *
 * SIGTERM drains: runs already received finish, new ones are refused, then the process exits.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FailureReason, endedOutcome, failureError } from '../core/index.ts';
import {
  DEFAULT_RUNNER_SUBJECT_PREFIX,
  heartbeatSubject,
  runnerSubjects,
  type RunnerAnnouncement,
} from '../cluster/runner-subjects.ts';
import { RunMessageSchema, type RunnerMessage } from './protocol.ts';
import { DEFAULT_RUNNER_OPTIONS, RunnerProcess, type RunnerOptions } from './runner-process.ts';

const OPTIONS_ENV = 'MCPV8_RUNNER_OPTIONS';

function fail(message: string, code = 2): never {
  process.stderr.write(`runner: ${message}\n`);
  process.exit(code);
}

const { values: args } = parseArgs({
  options: {
    'nats-url': { type: 'string' },
    'runner-id': { type: 'string' },
    'options-file': { type: 'string' },
    'subject-prefix': { type: 'string', default: DEFAULT_RUNNER_SUBJECT_PREFIX },
    'drain-timeout-ms': { type: 'string', default: '30000' },
  },
});
const natsUrl = args['nats-url'] ?? fail('--nats-url is required');
const runnerId = args['runner-id'] ?? fail('--runner-id is required');
const prefix = args['subject-prefix'];
const drainTimeoutMs = Number(args['drain-timeout-ms']);

/** Runner options from the file, else the env var, else the defaults. */
function readOptions(): RunnerOptions {
  const file = args['options-file'];
  const text = file !== undefined ? readFileSync(file, 'utf8') : process.env[OPTIONS_ENV];
  if (text === undefined || text.trim() === '') return DEFAULT_RUNNER_OPTIONS;
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail('runner options must be a JSON object');
  return { ...DEFAULT_RUNNER_OPTIONS, ...(parsed as Partial<RunnerOptions>) };
}

let subjects: ReturnType<typeof runnerSubjects>;
let options: RunnerOptions;
try {
  subjects = runnerSubjects(prefix, runnerId);
  options = readOptions();
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
// Secrets must not leak to what user code or a later process could read.
delete process.env[OPTIONS_ENV];

const nc: NatsConnection = await connect({
  servers: natsUrl,
  name: `mcpv8-runner-${runnerId}`,
  // A pod outlives NATS restarts: keep trying rather than die and lose live heaps.
  maxReconnectAttempts: -1,
}).catch((err: unknown) => fail(`cannot connect to NATS: ${String(err)}`, 1));

/** Runs received and not yet reported: what a drain waits for. */
const inFlight = new Set<string>();
let draining = false;
let running = 0;

const publish = (subject: string, msg: unknown) => {
  try {
    if (!nc.isClosed()) nc.publish(subject, JSON.stringify(msg));
  } catch (err) {
    // E.g. larger than the server's max_payload: the pool will see the execution time out.
    process.stderr.write(`runner: could not publish to ${subject}: ${String(err)}\n`);
  }
};
const announce = (pid: number) => {
  const a: RunnerAnnouncement = { runnerId, pid, running, draining };
  publish(heartbeatSubject(prefix), a);
};
const send = (msg: RunnerMessage) => {
  if (msg.type === 'heartbeat') running = msg.running;
  if (msg.type === 'outcome') inFlight.delete(msg.executionId);
  publish(subjects.out, msg);
  if (msg.type === 'ready') announce(msg.pid);
  else if (msg.type === 'heartbeat') announce(process.pid);
};

const runner = new RunnerProcess(options, send, (message) => {
  // V8 lost control of an isolate: nothing in this process can be trusted any more.
  process.stderr.write(`runner: catastrophic isolate error: ${message}\n`);
  process.exit(70);
});

nc.subscribe(subjects.in, {
  callback: (err, msg) => {
    if (err) return;
    let raw: unknown;
    try {
      raw = msg.json();
    } catch {
      process.stderr.write('runner: ignored a message that is not JSON\n');
      return;
    }
    const run = RunMessageSchema.safeParse(raw);
    if (run.success) {
      if (draining) {
        // Refused, not dropped: the pool learns at once instead of at the deadline.
        const error = failureError(FailureReason.RunnerCrashed, 'the runner is shutting down');
        const outcome = endedOutcome('failed', error, run.data.heapMb, 0);
        publish(subjects.out, { type: 'outcome', executionId: run.data.executionId, outcome });
        return;
      }
      inFlight.add(run.data.executionId);
    }
    runner.handle(raw);
  },
});

process.once('SIGTERM', () => {
  draining = true;
  announce(process.pid);
  const deadline = Date.now() + drainTimeoutMs;
  const timer = setInterval(() => {
    if (inFlight.size > 0 && Date.now() < deadline) return;
    clearInterval(timer);
    runner.stop();
    void nc
      .drain()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  }, 50);
});

void nc.closed().then((err) => {
  if (draining) return;
  // Closed without a drain (reconnects are unlimited, so this is fatal): nobody reads our results.
  process.stderr.write(`runner: NATS connection closed${err ? `: ${err.message}` : ''}\n`);
  runner.stop();
  process.exit(1);
});

runner.start().catch((err: unknown) => fail(`could not start: ${String(err)}`, 1));
