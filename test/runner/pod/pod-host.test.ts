// The runner in a pod, hosted by the pod instead of a parent process: a real RunnerProcess with
// the pod's host and admission, against in-memory output logs and per-namespace heap stores in
// temp dirs. Output is stored before the outcome is published, heaps are committed and resumed
// per namespace, runs are refused when they cannot run, cancelled wherever they are, run once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { StoredOutcome } from '../../../src/cluster/outcome-stream.ts';
import type { PodRunMessage, RunRefusal, RunnerOutMessage } from '../../../src/cluster/runner-subjects.ts';
import type { HeapStore, OutputLine } from '../../../src/core/index.ts';
import { DirHeapStore } from '../../../src/local/heap-store.ts';
import { ClusterHeaps, type NamespaceHeapStores } from '../../../src/runner/pod/heap-side.ts';
import { TenantOutputLogs } from '../../../src/runner/pod/output-sink.ts';
import { PodHost } from '../../../src/runner/pod/pod-host.ts';
import { PodRuns } from '../../../src/runner/pod/pod-runs.ts';
import { clusterRun } from './cluster-run.ts';
import {
  DEFAULT_RUNNER_OPTIONS,
  RunnerProcess,
  type RunnerOptions,
} from '../../../src/runner/runner-process.ts';

const root = mkdtempSync(join(tmpdir(), 'pod-host-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const stores = new Map<string, HeapStore>();
const tenants: NamespaceHeapStores = {
  forNamespace: (ns) => stores.get(ns) ?? stores.set(ns, new DirHeapStore(join(root, ns))).get(ns)!,
};

const pods: Array<RunnerProcess<PodRunMessage>> = [];
afterEach(() => {
  for (const p of pods.splice(0)) p.stop();
});

/** One pod's runner, host and admission; `outcome(id)` resolves once the pod is done with run `id`. */
async function startPod(heapStores: NamespaceHeapStores | undefined, options: Partial<RunnerOptions> = {}) {
  const events: string[] = [];
  const lines = new Map<string, OutputLine[]>();
  const published = new Map<string, { namespace: string; msg: StoredOutcome }>();
  const waiting = new Map<string, PromiseWithResolvers<StoredOutcome>>();
  const reports: RunnerOutMessage[] = [];
  const refused = new Map<string, RunRefusal>();
  const warnings: string[] = [];
  const waiter = (id: string) => waiting.get(id) ?? waiting.set(id, Promise.withResolvers()).get(id)!;
  const heaps = new ClusterHeaps(heapStores);
  const host = new PodHost({
    runnerId: 'pod-0',
    outputs: new TenantOutputLogs(async (namespace) => ({
      append: async (name, batch) => {
        // A store that answers later: the outcome must still wait for it.
        await new Promise((r) => setImmediate(r));
        const key = `${namespace}/${name}`;
        lines.set(key, [...(lines.get(key) ?? []), ...batch]);
        events.push(`lines ${key}`);
      },
    })),
    heaps,
    publish: async (namespace, msg) => {
      events.push(`outcome ${msg.executionId}`);
      published.set(msg.executionId, { namespace, msg });
    },
    report: (msg) => reports.push(msg),
    onDone: (id) => {
      runs.done(id);
      const p = published.get(id);
      if (p) waiter(id).resolve(p.msg);
    },
  });
  const runner = new RunnerProcess<PodRunMessage>(
    { ...DEFAULT_RUNNER_OPTIONS, warmSandboxes: 1, heartbeatIntervalMs: 20, ...options },
    host,
    (message) => warnings.push(message),
  );
  pods.push(runner);
  const runs = new PodRuns({
    heaps,
    runner,
    end: (run, outcome) => host.outcome(run, outcome),
    refuse: (run, refusal) => refused.set(run.executionId, refusal),
    runsPerPod: options.runsPerPod ?? 0,
    warn: (message) => warnings.push(message),
  });
  await runner.start();
  return {
    runs,
    events,
    lines,
    reports,
    refused,
    warnings,
    outcome: (id: string) => waiter(id).promise,
  };
}

let seq = 0;
const run = (namespace: string, code: string, extra: Partial<PodRunMessage> = {}): PodRunMessage =>
  clusterRun(namespace, `e${++seq}`, code, extra);

describe('the runner hosted by its pod', () => {
  it('stores every line in the tenant output log, then publishes the outcome', async () => {
    const pod = await startPod(tenants);
    const r = run('ns1', 'console.log("a\\nb"); console.error("c"); 6 * 7');
    pod.runs.receive(r);
    expect(pod.runs.inFlight.has(r.executionId)).toBe(true);
    const o = await pod.outcome(r.executionId);
    expect(o).toMatchObject({ executionId: r.executionId, runnerId: 'pod-0' });
    expect(o.outcome).toMatchObject({ status: 'completed', result: '42' });
    expect(pod.lines.get(`ns1/${r.execution.name}`)!.map((l) => [l.level, l.text])).toEqual([
      ['log', 'a'],
      ['log', 'b'],
      ['error', 'c'],
    ]);
    expect(pod.events.at(-1)).toBe(`outcome ${r.executionId}`);
    expect(pod.runs.inFlight.size).toBe(0);
  });

  it('commits heaps in their namespace and resumes them there only, live or replayed', async () => {
    const a = await startPod(tenants);
    const first = run('ns1', 'var x = 1; x', { persist: true });
    a.runs.receive(first);
    const stored = await a.outcome(first.executionId);
    expect(stored.outcome.status, JSON.stringify(stored.outcome.error)).toBe('completed');
    expect(stored.heapCommitted).toBe(true);
    expect(stored).not.toHaveProperty('heapNode');
    const heap = stored.outcome.heap!;
    expect(await tenants.forNamespace('ns1').has(heap)).toBe(true);
    expect(await tenants.forNamespace('ns2').has(heap)).toBe(false);

    // A pod that never held it replays the chain it loads from the namespace's store.
    const b = await startPod(tenants, { liveHeaps: 0 });
    const resumed = run('ns1', 'x + 1', { persist: true, heap });
    b.runs.receive(resumed);
    expect((await b.outcome(resumed.executionId)).outcome).toMatchObject({
      status: 'completed',
      result: '2',
    });

    // Another namespace cannot resume it: the pod that holds it live runs for ns1 only, and a
    // pod of ns2 does not find it in ns2's store.
    const foreign = run('ns2', 'x', { heap });
    a.runs.receive(foreign);
    expect(a.refused.get(foreign.executionId)).toEqual({ reason: 'other-tenant', tenant: 'ns1' });
    const c = await startPod(tenants);
    c.runs.receive(foreign);
    const refused = await c.outcome(foreign.executionId);
    expect(refused.outcome).toMatchObject({ status: 'failed', error: { reason: 'HeapError' } });
    expect(refused.outcome.error?.message).toMatch(/MCPV8_ERR_HEAP_NOT_FOUND/);
  });

  it('fails a stateful run clearly when the pod has no heap store; stateless runs still work', async () => {
    const pod = await startPod(undefined);
    const stateful = run('ns1', 'var y = 1', { persist: true });
    pod.runs.receive(stateful);
    const o = await pod.outcome(stateful.executionId);
    expect(o.outcome).toMatchObject({ status: 'failed', error: { reason: 'HeapError' } });
    expect(o.outcome.error?.message).toMatch(/MCP_V8_S3_BUCKET/);
    const stateless = run('ns1', '1 + 1');
    pod.runs.receive(stateless);
    expect((await pod.outcome(stateless.executionId)).outcome).toMatchObject({ result: '2' });
  });

  it('cancels a run before the runner has it and while it runs', async () => {
    const pod = await startPod(tenants);
    const early = run('ns1', 'console.log("ran"); 1');
    pod.runs.receive(early);
    pod.runs.cancel(early.executionId);
    expect((await pod.outcome(early.executionId)).outcome.status).toBe('cancelled');
    expect(pod.lines.has(early.executionId)).toBe(false);

    const spinning = run('ns1', 'console.log("go"); for (;;) {}', { timeoutMs: 30_000 });
    pod.runs.receive(spinning);
    const key = `ns1/${spinning.execution.name}`;
    while (!pod.lines.has(key)) await new Promise((r) => setImmediate(r));
    pod.runs.cancel(spinning.executionId);
    expect((await pod.outcome(spinning.executionId)).outcome.status).toBe('cancelled');
  });

  it('runs a run sent twice once, and refuses new runs while it drains', async () => {
    const pod = await startPod(tenants);
    const r = run('ns1', 'globalThis.count = (globalThis.count ?? 0) + 1; console.log("once")');
    pod.runs.receive(r);
    pod.runs.receive(r);
    await pod.outcome(r.executionId);
    expect(pod.lines.get(`ns1/${r.execution.name}`)).toHaveLength(1);
    expect(pod.warnings).toEqual([`ignored a second run of ${r.executionId}`]);

    pod.runs.drain();
    const late = run('ns1', '1');
    pod.runs.receive(late);
    const o = await pod.outcome(late.executionId);
    expect(o.outcome).toMatchObject({ status: 'failed', error: { reason: 'RunnerCrashed' } });
    expect(o.outcome.error?.message).toMatch(/shutting down/);
  });

  it('refuses, without running or failing it, a run past its budget or of another tenant', async () => {
    const once = await startPod(tenants, { runsPerPod: 1 });
    const first = run('ns1', 'console.log("first")');
    once.runs.receive(first);
    const second = run('ns1', 'console.log("second")');
    once.runs.receive(second);
    expect(once.refused.get(second.executionId)).toEqual({ reason: 'used-up' });
    expect(once.runs.inFlight.has(second.executionId)).toBe(false);
    expect((await once.outcome(first.executionId)).outcome.status).toBe('completed');
    expect(once.lines.has(`ns1/${second.execution.name}`)).toBe(false);
    // Refused, not remembered as run: it is the pool's to send elsewhere.
    expect(once.events).not.toContain(`outcome ${second.executionId}`);

    const pooled = await startPod(tenants, { runsPerPod: 100 });
    const mine = run('ns1', '1');
    pooled.runs.receive(mine);
    const theirs = run('ns2', 'console.log("not here")');
    pooled.runs.receive(theirs);
    expect(pooled.refused.get(theirs.executionId)).toEqual({ reason: 'other-tenant', tenant: 'ns1' });
    const again = run('ns1', '2');
    pooled.runs.receive(again);
    expect((await pooled.outcome(again.executionId)).outcome).toMatchObject({
      status: 'completed',
      result: '2',
    });
    expect(pooled.lines.has(`ns2/${theirs.execution.name}`)).toBe(false);
  });

  it('reports ready, then heartbeats with its resident size and its memory budget', async () => {
    const pod = await startPod(tenants, { liveHeapRssBytes: 900 * 1024 * 1024 });
    expect(pod.reports[0]).toMatchObject({ type: 'ready', pid: process.pid });
    const beat = pod.reports.find((m) => m.type === 'heartbeat');
    expect(beat).toMatchObject({ running: 0, rssBudgetBytes: 900 * 1024 * 1024 });
    expect(beat?.type === 'heartbeat' && beat.rssBytes).toBeGreaterThan(0);
  });
});
