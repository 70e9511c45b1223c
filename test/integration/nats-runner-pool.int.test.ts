// The cluster pool driving real runner pods (src/runner/nats-entry.ts) over the harness NATS, as
// the controller does: every run names its Execution, so output lands in the tenant's JetStream
// log and heaps in its S3 prefix. Results and output, cancellation, a session resumed on the
// runner holding its heap and replayed on another once that runner is killed (lost by
// heartbeats), a drain on SIGTERM, and a runner staying over its memory budget retired. A pod
// holds its own claim and announces it: a pool that takes over sends nothing to a used-up pod nor
// another tenant's run to a bound one, and a run the pod refuses all the same is run elsewhere.
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JetStreamOutputLog } from '../../src/cluster/jetstream-output-log.ts';
import { NatsRunnerPool } from '../../src/cluster/nats-runner-pool.ts';
import type { ExecutionOutcome, RunRequest } from '../../src/core/index.ts';
import type { RunnerOptions } from '../../src/runner/runner-process.ts';
import { s3TestClient } from '../harness/s3-client.ts';

const { nats, s3 } = inject('services');
const run = randomBytes(4).toString('hex');
const PREFIX = `mcpv8t${run}`;
const BUCKET = `nats-pool-${run}`;
const NS = `tenant-${run}`;
const ENTRY = fileURLToPath(new URL('../../src/runner/nats-entry.ts', import.meta.url));
// Short, yet long enough that a loaded CI machine stalling a runner for a moment is not a loss.
const HEARTBEAT_TIMEOUT_MS = 3000;
// A dot is not a subject token character: the runner id must be escaped, not split.
const IDS = [`runner.a-${run}`, `runner.b-${run}`];
const MIB = 1024 * 1024;

const children = new Map<string, ChildProcess>();
const retired: string[] = [];
const onRetired = new Map<string, () => void>();
let nc: NatsConnection;
let pool: NatsRunnerPool;
let seq = 0;

/** A runner pod configured through its environment, as the chart does. */
function startRunner(id: string, options: Partial<RunnerOptions> = {}, prefix = PREFIX): ChildProcess {
  const child = spawn(process.execPath, ['--no-node-snapshot', ENTRY], {
    env: {
      ...process.env,
      // Marks the process so a leftover would be caught by the CI check.
      MCPV8_TEST_SERVICE: `nats-runner-${id}`,
      MCP_V8_NATS_URL: nats!.url,
      POD_NAME: id,
      MCP_V8_RUNNER_SUBJECT_PREFIX: prefix,
      MCP_V8_S3_BUCKET: BUCKET,
      MCP_V8_S3_ENDPOINT: s3!.url,
      MCP_V8_S3_REGION: s3!.region,
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
      MCPV8_RUNNER_OPTIONS: JSON.stringify({ heartbeatIntervalMs: 200, warmSandboxes: 1, ...options }),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.set(id, child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  await s3TestClient(s3!).send(new CreateBucketCommand({ Bucket: BUCKET }));
  nc = await connect({ servers: nats!.url });
  // One runner configured, the other found through its announcements.
  pool = new NatsRunnerPool(nc, {
    subjectPrefix: PREFIX,
    runners: [IDS[0]!],
    discover: true,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    cancelGraceMs: 500,
    deadlineGraceMs: 1000,
    memoryGraceMs: 500,
    outcomes: await jetstreamManager(nc),
    onRetired: (id) => {
      retired.push(id);
      onRetired.get(id)?.();
    },
  });
  // A budget far above what they use: the memory check runs, and never trips.
  for (const id of IDS) startRunner(id, { liveHeapRssBytes: 2048 * MIB });
  await pool.whenReady(2, 30_000);
});
afterAll(async () => {
  await pool?.close();
  await Promise.all([...children.values()].map(stop));
  await nc?.drain();
});

interface Started {
  runner: string | undefined;
  name: string;
  done: Promise<ExecutionOutcome>;
}

function start(code: string, opts: Partial<RunRequest> & { signal?: AbortSignal } = {}): Started {
  const name = `exec-${++seq}`;
  const executionId = `${NS}/${name}`;
  const done = pool.run(
    {
      executionId,
      code,
      language: 'javascript',
      heapMb: 16,
      timeoutMs: 10_000,
      execution: { namespace: NS, name },
      ...opts,
    },
    () => {},
    opts.signal ?? new AbortController().signal,
  );
  return { runner: pool.runnerOf(executionId), name, done };
}

describe('NatsRunnerPool with runner pods', () => {
  it('runs a cell: the result, and its console output in the tenant output log', async () => {
    const s = start('console.log("hello"); console.error("oops"); 6 * 7');
    expect(await s.done).toMatchObject({ status: 'completed', result: '42', resultType: 'number' });
    const log = await JetStreamOutputLog.open(nc, { namespace: NS });
    const page = await log.read(s.name, { mode: 'lines', offset: 0, limit: 10 });
    expect(page.lines.map((l) => [l.level, l.text])).toEqual([
      ['log', 'hello'],
      ['error', 'oops'],
    ]);
  });

  it('refuses a run that names no Execution, at once', async () => {
    const outcome = await pool.run(
      { executionId: `plain-${run}`, code: '1', language: 'javascript', heapMb: 16, timeoutMs: 5000 },
      () => {},
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ status: 'failed', error: { reason: 'Error' } });
    expect(outcome.error?.message).toMatch(/MCPV8_ERR_SERVER_INTERNAL|must name its Execution/);
  });

  it('retires a runner whose resident size stays over its budget, and gives it no more work', async () => {
    // A budget below any Node process: every heartbeat reports the runner over it.
    const id = `runner.c-${run}`;
    const gone = new Promise<void>((r) => onRetired.set(id, r));
    startRunner(id, { liveHeapRssBytes: 16 * MIB });
    await gone;
    expect(pool.retiredFor(id)).toBe('over-memory');
    const runs = [start('1'), start('2'), start('3')];
    expect(runs.map((s) => s.runner)).not.toContain(id);
    for (const s of runs) expect((await s.done).status).toBe('completed');
    // Runners under their budget are never retired.
    expect(retired).toEqual([id]);
    await stop(children.get(id)!);
  });

  it('cancels a running execution', async () => {
    const abort = new AbortController();
    const s = start('console.log("go"); while (true) {}', { timeoutMs: 30_000, signal: abort.signal });
    const log = await JetStreamOutputLog.open(nc, { namespace: NS });
    // Running for sure once its first line is stored.
    while ((await log.read(s.name, { mode: 'lines', offset: 0, limit: 1 })).lines.length === 0)
      await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    expect((await s.done).status).toBe('cancelled');
    // The runner stopped the cell, so it takes work again.
    await pool.whenReady(2, 5000);
  });

  it('resumes a session on the runner holding its heap, and elsewhere once that runner is killed', async () => {
    const first = start('var n = 1; n', { persist: true });
    const a = await first.done;
    expect(a.status, JSON.stringify(a.error)).toBe('completed');
    const second = start('++n', { persist: true, heap: a.heap! });
    expect(second.runner).toBe(first.runner);
    const b = await second.done;
    expect(b, JSON.stringify(b.error)).toMatchObject({ status: 'completed', result: '2' });

    // In flight on the holder when it dies: lost after the heartbeat timeout.
    const inFlight = start('while (true) {}', { persist: true, heap: b.heap!, timeoutMs: 30_000 });
    expect(inFlight.runner).toBe(first.runner);
    await stop(children.get(first.runner!)!);
    const lost = await inFlight.done;
    expect(lost.status, JSON.stringify(lost.error)).toBe('failed');
    expect(lost.error?.reason).toBe('RunnerCrashed');
    expect(lost.error?.message).toMatch(/lost/);

    // The other pod never held it: it replays the chain from the tenant's S3 prefix.
    const third = start('++n', { persist: true, heap: b.heap! });
    expect(third.runner).toBeDefined();
    expect(third.runner).not.toBe(first.runner);
    const c = await third.done;
    expect(c, JSON.stringify(c.error)).toMatchObject({ status: 'completed', result: '3' });
  });

  it('drains on SIGTERM: finishes what it runs, then exits', async () => {
    await pool.whenReady(1, 10_000);
    const s = start('console.log("started"); await new Promise((r) => setTimeout(r, 500)); "done"');
    const child = children.get(s.runner!)!;
    const log = await JetStreamOutputLog.open(nc, { namespace: NS });
    while ((await log.read(s.name, { mode: 'lines', offset: 0, limit: 1 })).lines.length === 0)
      await new Promise((r) => setTimeout(r, 20));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await s.done).toMatchObject({ status: 'completed', result: '"done"' });
    expect(await exited).toBe(0);
  });
});

describe("runner pods' claims, across pools", () => {
  // Each pool stands for a controller: a later one knows nothing of what an earlier one sent.
  const prefix = `${PREFIX}c`;
  const [once, pooled, spare, fresh] = ['once', 'pooled', 'spare', 'fresh'].map(
    (n) => `runner.${n}-${run}`,
  ) as [string, string, string, string];
  const other = `other-${run}`;
  const pools: NatsRunnerPool[] = [];
  const recycled = Promise.withResolvers<string>();
  let bound: NatsRunnerPool;
  afterAll(async () => {
    for (const p of pools) await p.close();
  });

  function poolOf(opts: ConstructorParameters<typeof NatsRunnerPool>[1]): NatsRunnerPool {
    const p = new NatsRunnerPool(nc, {
      subjectPrefix: prefix,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
      ...opts,
    });
    pools.push(p);
    return p;
  }

  /** Runs `code` as an execution of `namespace`; `runners` are those it was assigned to, in order. */
  async function runOn(p: NatsRunnerPool, namespace: string, code: string) {
    const name = `claim-${++seq}`;
    const runners: string[] = [];
    const outcome = await p.run(
      {
        executionId: `${namespace}/${name}`,
        code,
        language: 'javascript',
        heapMb: 16,
        timeoutMs: 10_000,
        execution: { namespace, name },
      },
      () => {},
      new AbortController().signal,
      { assigned: async (id) => (runners.push(id), true) },
    );
    return { outcome, runners };
  }

  it('a runner sent a run past its own executionsPerPod refuses it; the run completes on another', async () => {
    // The pool's executionsPerPod is unknown here (as after it was raised above the pods'): only
    // the pod knows it ran all it may.
    const retiredOnce = Promise.withResolvers<void>();
    const a = poolOf({
      runners: [once],
      discover: true,
      onRetired: (id) => id === once && retiredOnce.resolve(),
    });
    startRunner(once, { runsPerPod: 1 }, prefix);
    await a.whenReady(1, 30_000);
    expect(await runOn(a, NS, '1')).toMatchObject({ outcome: { status: 'completed' }, runners: [once] });

    startRunner(pooled, { runsPerPod: 100 }, prefix);
    await a.whenReady(2, 30_000);
    const second = await runOn(a, NS, '6 * 7');
    expect(second.runners).toEqual([once, pooled]);
    expect(second.outcome).toMatchObject({ status: 'completed', result: '42' });
    // It said it is used up: retired, so its owner replaces the pod.
    await retiredOnce.promise;
    expect(a.retiredFor(once)).toBe('used-up');
    await a.close();
  });

  it('a pool taking over sends nothing to a pod that ran its executionsPerPod, and retires it', async () => {
    // `once` ran its one run for the pool above; this one learns it from its announcements.
    const retiredOnce = Promise.withResolvers<void>();
    const t = poolOf({
      runners: [once, fresh],
      discover: false,
      runsPerRunner: 1,
      onRetired: (id) => id === once && retiredOnce.resolve(),
    });
    startRunner(fresh, { runsPerPod: 1 }, prefix);
    await retiredOnce.promise;
    expect(t.retiredFor(once)).toBe('used-up');
    await t.whenReady(2, 30_000);
    // `once` was known first and is as idle as `fresh`: without its claim it would be tried first.
    expect(await runOn(t, NS, '"fresh"')).toMatchObject({
      outcome: { status: 'completed', result: '"fresh"' },
      runners: [fresh],
    });
    await t.close();
  });

  it('a pool taking over sends a pooled pod bound to a tenant only that tenant’s runs', async () => {
    // `pooled` ran a run of NS above; this pool learns it from its announcements.
    startRunner(spare, { runsPerPod: 100 }, prefix);
    const b = poolOf({
      runners: [pooled, spare],
      discover: false,
      onRetired: (id) => recycled.resolve(id),
    });
    bound = b;
    await b.whenReady(2, 30_000);
    const theirs = await runOn(b, other, '"elsewhere"');
    expect(theirs).toMatchObject({
      outcome: { status: 'completed', result: '"elsewhere"' },
      runners: [spare],
    });
    // From now on each tenant goes to the runner bound to it.
    expect((await runOn(b, other, '1')).runners).toEqual([spare]);
    expect((await runOn(b, NS, '2')).runners).toEqual([pooled]);
  });

  it('when every runner is bound to another tenant, retires an idle one for a fresh pod', async () => {
    const third = runOn(bound, `third-${run}`, '"fresh"');
    // As the controller does: the retired pod is replaced by a new one, bound to nobody.
    const gone = await recycled.promise;
    expect([pooled, spare]).toContain(gone);
    expect(bound.retiredFor(gone)).toBe('used-up');
    const replacement = `runner.replacement-${run}`;
    bound.setMembers([pooled, spare].filter((id) => id !== gone).concat(replacement));
    startRunner(replacement, { runsPerPod: 100 }, prefix);
    expect(await third).toMatchObject({
      outcome: { status: 'completed', result: '"fresh"' },
      runners: [replacement],
    });
  });

  it('an adopted execution its pod never got, and now refuses, runs on another pod', async () => {
    // What a controller leaves when it stops between recording the assignment and sending the
    // run: here to `once`, which has run its one run since. The pool taking over sends it there
    // once; refused, it ran nowhere, so it runs elsewhere.
    const elsewhere = `runner.elsewhere-${run}`;
    startRunner(elsewhere, { runsPerPod: 1 }, prefix);
    const q = poolOf({ runners: [once, elsewhere], discover: false });
    await q.whenReady(2, 30_000);
    const name = `claim-${++seq}`;
    const runners: string[] = [];
    const outcome = await q.adopt(
      {
        executionId: `${NS}/${name}`,
        code: '"moved"',
        language: 'javascript',
        heapMb: 16,
        timeoutMs: 10_000,
        execution: { namespace: NS, name },
      },
      once,
      Date.now(),
      new AbortController().signal,
      NS,
      { assigned: async (id) => (runners.push(id), true) },
    );
    expect(outcome).toMatchObject({ status: 'completed', result: '"moved"' });
    expect(runners).toEqual([elsewhere]);
  });
});
