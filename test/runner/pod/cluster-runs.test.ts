// The pod side of cluster runs with in-memory fakes: output stored before the outcome, heaps
// committed per namespace, chains answered only for the run's own heap, resumes checked
// against the run's namespace, cancels of runs not yet handed to the runner.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StoredOutcome } from '../../../src/cluster/outcome-stream.ts';
import {
  encodeHeapNode,
  type ExecutionOutcome,
  type HeapNode,
  type HeapStore,
  type OutputLine,
} from '../../../src/core/index.ts';
import { DirHeapStore } from '../../../src/local/heap-store.ts';
import { ClusterRuns } from '../../../src/runner/pod/cluster-runs.ts';
import { ClusterHeaps } from '../../../src/runner/pod/heap-side.ts';
import { ClusterOutputSink } from '../../../src/runner/pod/output-sink.ts';
import type { ParentMessage, RunMessage } from '../../../src/runner/protocol.ts';

const root = mkdtempSync(join(tmpdir(), 'cluster-runs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const stores = new Map<string, HeapStore>();
const tenants = {
  forNamespace: (ns: string) => stores.get(ns) ?? stores.set(ns, new DirHeapStore(join(root, ns))).get(ns)!,
};

function setup(heaps = new ClusterHeaps(tenants)) {
  const events: string[] = [];
  const lines = new Map<string, OutputLine[]>();
  const published: Array<{ namespace: string; msg: StoredOutcome }> = [];
  const toRunner: ParentMessage[] = [];
  const done: string[] = [];
  const sink = new ClusterOutputSink(async (namespace) => ({
    append: async (name, batch) => {
      await new Promise((r) => setTimeout(r, 30)); // a slow store: the outcome must still wait
      lines.set(`${namespace}/${name}`, [...(lines.get(`${namespace}/${name}`) ?? []), ...batch]);
      events.push(`lines ${batch.length}`);
    },
  }));
  const runs = new ClusterRuns({
    runnerId: 'pod-0',
    sink,
    heaps,
    publish: async (namespace, msg) => {
      events.push('outcome');
      published.push({ namespace, msg });
    },
    toRunner: (m) => toRunner.push(m),
    onDone: (id) => done.push(id),
  });
  return { runs, events, lines, published, toRunner, done };
}

function runMsg(ns: string, name: string, extra: Partial<RunMessage> = {}) {
  return {
    type: 'run' as const,
    executionId: `${ns}/${name}`,
    code: 'x',
    language: 'javascript' as const,
    heapMb: 16,
    timeoutMs: 1000,
    persist: false,
    ...extra,
    execution: { namespace: ns, name },
  };
}

const completed: ExecutionOutcome = {
  status: 'completed',
  result: '1',
  resultType: 'number',
  effectiveHeapMb: 8,
  durationMs: 1,
  outputBytes: 0,
  outputTruncated: false,
};
const until = async (p: () => boolean) => {
  while (!p()) await new Promise((r) => setTimeout(r, 5));
};

describe('ClusterRuns', () => {
  it('stores every line, then publishes the outcome', async () => {
    const t = setup();
    const run = runMsg('ns1', 'e1');
    t.runs.start(run);
    await until(() => t.toRunner.length === 1);
    expect(t.toRunner[0]).toEqual(run);
    expect(
      t.runs.fromRunner({ type: 'output', executionId: run.executionId, level: 'log', text: 'a\nb' }),
    ).toBe(true);
    t.runs.fromRunner({ type: 'outcome', executionId: run.executionId, outcome: completed });
    await until(() => t.done.length === 1);
    expect(t.events).toEqual(['lines 2', 'outcome']);
    expect(t.lines.get('ns1/e1')!.map((l) => l.text)).toEqual(['a', 'b']);
    expect(t.published[0]).toMatchObject({
      namespace: 'ns1',
      msg: { executionId: 'ns1/e1', runnerId: 'pod-0' },
    });
    // Messages of other runs are not taken.
    expect(t.runs.fromRunner({ type: 'output', executionId: 'other', level: 'log', text: 'x' })).toBe(false);
  });

  it('commits a heap in its namespace and publishes heapCommitted without the node', async () => {
    const t = setup();
    const run = runMsg('ns1', 'e2', { persist: true });
    t.runs.start(run);
    await until(() => t.toRunner.length === 1);
    const node: HeapNode = {
      format: 1,
      parent: null,
      cell: { code: 'x', language: 'javascript' },
      journal: [],
      modules: [],
    };
    const { id } = encodeHeapNode(node);
    t.runs.fromRunner({
      type: 'outcome',
      executionId: run.executionId,
      outcome: { ...completed, heap: id },
      heapNode: node,
    });
    await until(() => t.published.length === 1);
    expect(t.published[0]!.msg).toMatchObject({ heapCommitted: true, outcome: { heap: id } });
    expect(t.published[0]!.msg).not.toHaveProperty('heapNode');
    expect(await tenants.forNamespace('ns1').has(id)).toBe(true);
    expect(await tenants.forNamespace('ns2').has(id)).toBe(false);

    // Resumed in its namespace: the chain is answered from its store.
    const resume = runMsg('ns1', 'e3', { heap: id });
    t.runs.start(resume);
    await until(() => t.toRunner.length === 2);
    t.runs.fromRunner({ type: 'chain-request', executionId: resume.executionId, heap: id });
    await until(() => t.toRunner.length === 3);
    expect(t.toRunner[2]).toEqual({ type: 'chain', executionId: 'ns1/e3', chain: [{ id, node }] });
    // A chain for another heap than the run's is refused.
    t.runs.fromRunner({ type: 'chain-request', executionId: resume.executionId, heap: 'f'.repeat(64) });
    await until(() => t.toRunner.length === 4);
    expect(t.toRunner[3]).toMatchObject({ type: 'chain', error: { code: 'MCPV8_ERR_HEAP_NOT_FOUND' } });

    // Resumed in another namespace: refused before the runner sees it.
    const foreign = runMsg('ns2', 'e4', { heap: id });
    t.runs.start(foreign);
    await until(() => t.published.some((p) => p.msg.executionId === 'ns2/e4'));
    expect(t.toRunner).toHaveLength(4);
    expect(t.published.at(-1)!.msg.outcome).toMatchObject({
      status: 'failed',
      error: { reason: 'HeapError' },
    });
  });

  it('fails a stateful run without a heap store, and honours a cancel before the run starts', async () => {
    const t = setup(new ClusterHeaps(undefined));
    t.runs.start(runMsg('ns1', 'e5', { persist: true }));
    await until(() => t.published.length === 1);
    expect(t.published[0]!.msg.outcome.error?.message).toMatch(/MCP_V8_S3_BUCKET/);

    const c = setup();
    const run = runMsg('ns1', 'e6', { heap: 'a'.repeat(64) });
    c.runs.start(run);
    c.runs.cancel(run.executionId);
    await until(() => c.published.length === 1);
    expect(c.published[0]!.msg.outcome.status).toBe('cancelled');
    expect(c.toRunner).toEqual([]);
  });
});
