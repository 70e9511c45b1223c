// Runner pods running cluster executions on their own: real runner processes
// (src/runner/nats-entry.ts) driven with raw NATS messages, writing console lines to the tenant's
// JetStream output log, keeping heaps in the tenant's S3 prefix (chains loaded by the runner
// itself) and publishing outcomes durably, with the running executions and the pod's claim (runs
// admitted, tenant bound to) in their announcements;
// their memory guard on, and a drain on SIGTERM that refuses new runs.
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JetStreamOutputLog } from '../../src/cluster/jetstream-output-log.ts';
import { allOutcomes, readStoredOutcome, type StoredOutcome } from '../../src/cluster/outcome-stream.ts';
import {
  RunnerAnnouncementSchema,
  heartbeatSubject,
  runnerSubjects,
} from '../../src/cluster/runner-subjects.ts';
import { OutcomePublisher } from '../../src/runner/pod/outcome-publisher.ts';
import type { RunMessage } from '../../src/runner/protocol.ts';
import type { RunnerOptions } from '../../src/runner/runner-process.ts';
import { s3TestClient } from '../harness/s3-client.ts';
import { OWN_MEMORY_MODULE_SOURCE } from '../runner/own-memory-wasm.ts';
import { clusterRun } from '../runner/pod/cluster-run.ts';

const { nats, s3 } = inject('services');
const run = randomBytes(4).toString('hex');
const PREFIX = `mcpv8rp${run}`;
const BUCKET = `runner-pod-${run}`;
const S3_PREFIX = 'heaps/';
const NS_A = `tenant-a-${run}`;
const NS_B = `tenant-b-${run}`;
const ENTRY = fileURLToPath(new URL('../../src/runner/nats-entry.ts', import.meta.url));
const [POD_A, POD_B, POD_NO_S3] = [`pod-a-${run}`, `pod-b-${run}`, `pod-nos3-${run}`];
const MIB = 1024 * 1024;

const children: ChildProcess[] = [];
const outcomes = new Map<string, StoredOutcome>();
const outMessages: Array<{ type?: string; executionId?: string }> = [];
const announced = new Map<string, string[]>();
const drainingSeen = new Set<string>();
/** The claim each pod last announced. */
const claims = new Map<string, { admitted?: number; tenant?: string }>();
/** Announcements heard from each pod. */
const announcements = new Map<string, number>();
let nc: NatsConnection;
let jsm: JetStreamManager;
let seq = 0;

/** A runner pod configured through its environment only, as the chart does. */
function startPod(id: string, withS3: boolean, options: Partial<RunnerOptions> = {}): ChildProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MCPV8_TEST_SERVICE: `runner-pod-${id}`,
    MCP_V8_NATS_URL: nats!.url,
    POD_NAME: id,
    MCP_V8_RUNNER_SUBJECT_PREFIX: PREFIX,
    MCPV8_RUNNER_OPTIONS: JSON.stringify({ heartbeatIntervalMs: 100, warmSandboxes: 1, ...options }),
  };
  if (withS3) {
    Object.assign(env, {
      MCP_V8_S3_BUCKET: BUCKET,
      MCP_V8_S3_ENDPOINT: s3!.url,
      MCP_V8_S3_PREFIX: S3_PREFIX,
      MCP_V8_S3_REGION: s3!.region,
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: s3!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3!.secretAccessKey,
    });
  }
  const child = spawn(process.execPath, ['--no-node-snapshot', ENTRY], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sends a cluster run to `pod`; resolves with the execution id (`<namespace>/<name>`). */
function send(pod: string, namespace: string, code: string, extra: Partial<RunMessage> = {}) {
  const name = `exec-${++seq}`;
  const msg = clusterRun(namespace, name, code, extra);
  const { executionId } = msg;
  nc.publish(runnerSubjects(PREFIX, pod).in, JSON.stringify(msg));
  return { executionId, name, outcome: () => until(() => outcomes.get(executionId)) };
}

beforeAll(async () => {
  await s3TestClient(s3!).send(new CreateBucketCommand({ Bucket: BUCKET }));
  nc = await connect({ servers: nats!.url });
  jsm = await jetstreamManager(nc);
  // What a live pool does: a plain subscription to every outcome.
  nc.subscribe(allOutcomes(PREFIX), {
    callback: (err, m) => {
      if (!err) {
        const o = m.json<StoredOutcome>();
        outcomes.set(o.executionId, o);
      }
    },
  });
  nc.subscribe(`${PREFIX}.runner.*.out`, {
    callback: (err, m) => {
      if (!err) outMessages.push(m.json());
    },
  });
  nc.subscribe(heartbeatSubject(PREFIX), {
    callback: (err, m) => {
      const a = err ? undefined : RunnerAnnouncementSchema.safeParse(m.json()).data;
      if (a) announced.set(a.runnerId, a.executions ?? []);
      if (a) claims.set(a.runnerId, { admitted: a.admitted, tenant: a.tenant });
      if (a) announcements.set(a.runnerId, (announcements.get(a.runnerId) ?? 0) + 1);
      if (a?.draining) drainingSeen.add(a.runnerId);
    },
  });
  await nc.flush();
  startPod(POD_A, true);
  startPod(POD_B, true);
  startPod(POD_NO_S3, false);
  await until(() => ([POD_A, POD_B, POD_NO_S3].every((p) => announced.has(p)) ? true : undefined), 60_000);
});
afterAll(async () => {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }),
  );
  await nc?.drain();
});

describe('runner pod, cluster executions', () => {
  it('writes console lines to the tenant output log and publishes the outcome durably', async () => {
    const r = send(
      POD_A,
      NS_A,
      'console.log("one"); console.log("two\\nthree"); console.error("four"); 6 * 7',
    );
    const o = await r.outcome();
    expect(o).toMatchObject({ executionId: r.executionId, runnerId: POD_A });
    expect(o.outcome).toMatchObject({ status: 'completed', result: '42' });
    // Every line is stored before the outcome is published.
    const log = await JetStreamOutputLog.open(nc, { namespace: NS_A });
    const page = await log.read(r.name, { mode: 'lines', offset: 0, limit: 100 });
    expect(page.lines.map((l) => [l.level, l.text])).toEqual([
      ['log', 'one'],
      ['log', 'two'],
      ['log', 'three'],
      ['error', 'four'],
    ]);
    expect(await readStoredOutcome(jsm, PREFIX, NS_A, r.executionId)).toEqual(o);
    // Nothing of a cluster run goes to the pool as plain messages.
    expect(outMessages.filter((m) => m.executionId === r.executionId)).toEqual([]);
  });

  it('shows output while the cell runs and lists the execution in its announcements', async () => {
    const r = send(
      POD_B,
      NS_A,
      'console.log("early"); const t = Date.now() + 1500; while (Date.now() < t) {} "late"',
    );
    const log = await JetStreamOutputLog.open(nc, { namespace: NS_A });
    await until(async () => {
      const page = await log.read(r.name, { mode: 'lines', offset: 0, limit: 10 });
      return page.lines.some((l) => l.text === 'early') ? true : undefined;
    }, 5000);
    await until(() => (announced.get(POD_B)?.includes(r.executionId) ? true : undefined), 5000);
    expect(outcomes.has(r.executionId)).toBe(false);
    expect((await r.outcome()).outcome).toMatchObject({ status: 'completed', result: '"late"' });
    await until(() => (announced.get(POD_B)?.includes(r.executionId) ? undefined : true), 5000);
  });

  it('stores heaps under the tenant prefix and resumes them on another pod from S3', async () => {
    const first = await send(POD_A, NS_A, 'var x = 1; x', { persist: true }).outcome();
    expect(first.outcome.status, JSON.stringify(first.outcome.error)).toBe('completed');
    expect(first.heapCommitted).toBe(true);
    expect(first).not.toHaveProperty('heapNode');
    const heap = first.outcome.heap!;
    await s3TestClient(s3!).send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: `${S3_PREFIX}${NS_A}/${heap}.json` }),
    );

    // Pod B never held it: it replays the chain it loads from S3 itself.
    const r = send(POD_B, NS_A, 'x + 1', { persist: true, heap });
    const second = await r.outcome();
    expect(second.outcome, JSON.stringify(second.outcome.error)).toMatchObject({
      status: 'completed',
      result: '2',
    });
    expect(second.heapCommitted).toBe(true);
    expect(outMessages.filter((m) => m.type === 'chain-request')).toEqual([]);

    // Another tenant cannot resume it. Where it is live, the pod runs for NS_A only: it refuses
    // the run (not run, not failed: the pool sends it elsewhere).
    const foreign = send(POD_A, NS_B, 'x', { heap });
    const refused = await until(() => outMessages.find((m) => m.executionId === foreign.executionId));
    expect(refused).toEqual({
      type: 'refused',
      executionId: foreign.executionId,
      reason: 'other-tenant',
      tenant: NS_A,
    });
    expect(outcomes.has(foreign.executionId)).toBe(false);
    // Elsewhere, NS_B's store does not hold it.
    const podC = `pod-c-${run}`;
    startPod(podC, true);
    await until(() => (announced.has(podC) ? true : undefined), 30_000);
    const other = await send(podC, NS_B, 'x', { heap }).outcome();
    expect(other.outcome.status).toBe('failed');
    expect(other.outcome.error).toMatchObject({ reason: 'HeapError' });
    expect(other.outcome.error?.message).toMatch(/MCPV8_ERR_HEAP_NOT_FOUND/);
  });

  it('refuses a run past its runsPerPod: reported as refused, never run; its claim announced', async () => {
    const pod = `pod-once-${run}`;
    startPod(pod, false, { runsPerPod: 1 });
    await until(() => (announced.has(pod) ? true : undefined), 30_000);
    expect(claims.get(pod)).toEqual({ admitted: 0, tenant: undefined });
    expect((await send(pod, NS_A, '1').outcome()).outcome).toMatchObject({ result: '1' });
    await until(() => (claims.get(pod)?.admitted === 1 ? true : undefined), 5000);
    expect(claims.get(pod)).toEqual({ admitted: 1, tenant: NS_A });
    const second = send(pod, NS_A, 'console.log("not run"); 2');
    const refused = await until(() => outMessages.find((m) => m.executionId === second.executionId));
    expect(refused).toEqual({ type: 'refused', executionId: second.executionId, reason: 'used-up' });
    expect(outcomes.has(second.executionId)).toBe(false);
    // A refused run claims nothing.
    const heard = announcements.get(pod)!;
    await until(() => (announcements.get(pod)! > heard ? true : undefined), 5000);
    expect(claims.get(pod)).toEqual({ admitted: 1, tenant: NS_A });
  });

  it('fails a stateful run clearly when the pod has no heap store', async () => {
    const o = await send(POD_NO_S3, NS_A, 'var y = 1', { persist: true }).outcome();
    expect(o.outcome.status).toBe('failed');
    expect(o.outcome.error).toMatchObject({ reason: 'HeapError' });
    expect(o.outcome.error?.message).toMatch(/MCP_V8_S3_BUCKET/);
    // A stateless cluster run still works there.
    expect((await send(POD_NO_S3, NS_A, '1 + 1').outcome()).outcome).toMatchObject({ result: '2' });
  });

  it('ignores a run that names no Execution', async () => {
    const plain = `plain-${run}`;
    const msg = {
      type: 'run',
      executionId: plain,
      code: '3',
      language: 'javascript',
      heapMb: 16,
      timeoutMs: 5000,
    };
    nc.publish(runnerSubjects(PREFIX, POD_A).in, JSON.stringify(msg));
    // Messages are taken in order: once a later run is reported, the first was looked at.
    expect((await send(POD_A, NS_A, '4').outcome()).outcome).toMatchObject({ result: '4' });
    expect(outcomes.has(plain)).toBe(false);
    expect(outMessages.filter((m) => m.executionId === plain)).toEqual([]);
  });

  it('stops a cell that fills memory outside its heap (guard on with liveHeapRssBytes), and serves on', async () => {
    const pod = `pod-guard-${run}`;
    const child = startPod(pod, true, { liveHeapRssBytes: 400 * MIB });
    await until(() => (announced.has(pod) ? true : undefined), 60_000);
    // Instances of a module that fills 100 MB of its own memory: the isolate's cap never sees it.
    // Bounded (1 GB) so that a runner without its guard only fails this test.
    const bomb = `const mod = ${OWN_MEMORY_MODULE_SOURCE};
      const keep = [];
      for (let i = 0; i < 10; i++) { const inst = new WebAssembly.Instance(mod); inst.exports.fill(); keep.push(inst); }
      keep.length`;
    const o = await send(pod, NS_A, bomb, { timeoutMs: 30_000 }).outcome();
    expect(o.outcome).toMatchObject({ status: 'failed', error: { reason: 'OutOfMemory' } });
    expect((await send(pod, NS_A, '"next"').outcome()).outcome).toMatchObject({ result: '"next"' });
    expect(child.exitCode).toBeNull();
  });

  it('drains on SIGTERM: refuses new runs at once, finishes what it runs, then exits', async () => {
    const pod = `pod-drain-${run}`;
    const child = startPod(pod, false);
    await until(() => (announced.has(pod) ? true : undefined), 60_000);
    const log = await JetStreamOutputLog.open(nc, { namespace: NS_A });
    const running = send(
      pod,
      NS_A,
      'console.log("started"); await new Promise((r) => setTimeout(r, 500)); "done"',
    );
    await until(async () => {
      const page = await log.read(running.name, { mode: 'lines', offset: 0, limit: 1 });
      return page.lines.length > 0 ? true : undefined;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    await until(() => (drainingSeen.has(pod) ? true : undefined), 5000);
    const late = await send(pod, NS_A, '1').outcome();
    expect(late.outcome).toMatchObject({ status: 'failed', error: { reason: 'RunnerCrashed' } });
    expect(late.outcome.error?.message).toMatch(/shutting down/);
    expect((await running.outcome()).outcome).toMatchObject({ status: 'completed', result: '"done"' });
    expect(await exited).toBe(0);
  });

  it('falls back to a plain message on .out when JetStream cannot store the outcome', async () => {
    const prefix = `${PREFIX}x`;
    // A foreign stream already owns the outcome subjects: the outcome stream cannot be created.
    await jsm.streams.add({ name: `CONFLICT_${run}`, subjects: [`${prefix}.outcome.>`] });
    try {
      const fallback: unknown[] = [];
      const sub = nc.subscribe(`${prefix}.fallback`, {
        callback: (err, m) => {
          if (!err) fallback.push(m.json());
        },
      });
      await nc.flush();
      const warnings: string[] = [];
      const publisher = new OutcomePublisher(nc, {
        prefix,
        fallbackSubject: `${prefix}.fallback`,
        budgetMs: 300,
        warn: (w) => warnings.push(w),
      });
      const msg: StoredOutcome = {
        type: 'outcome',
        executionId: 'ns/e',
        runnerId: 'pod',
        outcome: {
          status: 'completed',
          effectiveHeapMb: 8,
          durationMs: 1,
          outputBytes: 0,
          outputTruncated: false,
        },
      };
      expect(await publisher.publish('ns', msg)).toBe(false);
      await until(() => (fallback.length === 1 ? true : undefined), 5000);
      expect(fallback[0]).toEqual(msg);
      expect(warnings.length).toBeGreaterThan(1); // retried before giving up
      sub.unsubscribe();
    } finally {
      await jsm.streams.delete(`CONFLICT_${run}`);
    }
  });
});
