// Resuming a heap that is not live: replaying its chain rebuilds exactly the state the live
// session had, including what depended on the clock, randomness and the order timers fired in.
import { afterEach, describe, expect, it } from 'vitest';
import { encodeHeapNode, type HeapId, type HeapNode } from '../../src/core/index.ts';
import { executeCell } from '../../src/runner/execute-cell.ts';
import { replayChain, sortModules } from '../../src/runner/heap-replay.ts';
import { LiveRecorder } from '../../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../src/runner/runner-process.ts';
import { Sandbox } from '../../src/runner/sandbox/sandbox.ts';
import { runCell } from './run-cell.ts';

const sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});

async function sandbox(): Promise<Sandbox> {
  const { wasmModules: _none, ...defaults } = DEFAULT_RUNNER_OPTIONS;
  const s = await Sandbox.create({ ...defaults, heapMb: 8 });
  sandboxes.push(s);
  return s;
}

/** Runs cells live in one sandbox, as a session would, returning each result and the chain. */
async function liveSession(cells: string[]) {
  const s = await sandbox();
  const chain: Array<{ id: HeapId; node: HeapNode }> = [];
  const results: Array<string | undefined> = [];
  for (const code of cells) {
    const recorder = new LiveRecorder();
    const outcome = await executeCell(
      { code, language: 'javascript', timeoutMs: 5000 },
      {
        sandbox: s,
        recorder,
        signal: new AbortController().signal,
        maxOutputBytes: 1 << 20,
        onOutput: () => {},
      },
    );
    expect(outcome.status, outcome.error?.message).toBe('completed');
    results.push(outcome.result);
    const node: HeapNode = {
      format: 1,
      parent: chain.at(-1)?.id ?? null,
      cell: { code, language: 'javascript' },
      journal: recorder.entries,
      modules: sortModules(s.drainLoadedModules()),
    };
    chain.push({ id: encodeHeapNode(node).id, node });
  }
  return { chain, results, sandbox: s };
}

function evalIn(s: Sandbox, code: string) {
  return runCell(s, code);
}

describe('replaying a heap chain', () => {
  it('rebuilds clock- and randomness-dependent state exactly', async () => {
    const { chain, sandbox: live } = await liveSession([
      'var t = Date.now(); var r = Math.random(); var p = performance.now();',
      'var list = [r, Math.random()]; class C { constructor(v) { this.v = v } }; var c = new C(t);',
      'var m = new Map([["k", list]]); let n = 0; const inc = () => ++n; inc(); inc();',
    ]);
    const probe = 'JSON.stringify([t, r, p, list, c.v, c instanceof C, [...m], inc()])';
    const expected = (await evalIn(live, probe)).result;
    const fresh = await sandbox();
    expect(
      await replayChain(fresh, chain, { signal: new AbortController().signal, deadline: Date.now() + 5000 }),
    ).toBeUndefined();
    expect((await evalIn(fresh, probe)).result).toBe(expected);
  });

  it('delivers timers in the recorded order without waiting for them', async () => {
    const { chain, sandbox: live } = await liveSession([
      `var order = [];
       setTimeout(() => order.push(['slow', Date.now()]), 60);
       setTimeout(() => order.push(['fast', Date.now()]), 5);
       const iv = setInterval(() => { order.push(['tick', Math.random()]); if (order.length > 3) clearInterval(iv); }, 10);
       await new Promise((r) => setTimeout(r, 80));`,
    ]);
    const expected = (await evalIn(live, 'JSON.stringify(order)')).result;
    const fresh = await sandbox();
    const started = Date.now();
    expect(
      await replayChain(fresh, chain, { signal: new AbortController().signal, deadline: Date.now() + 5000 }),
    ).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(60);
    expect((await evalIn(fresh, 'JSON.stringify(order)')).result).toBe(expected);
  });

  it('reports a chain whose journal does not match its code as a replay failure', async () => {
    const { chain } = await liveSession(['var a = Date.now();']);
    const tampered = [
      {
        ...chain[0]!,
        node: {
          ...chain[0]!.node,
          cell: { code: 'var a = Date.now() + Date.now();', language: 'javascript' as const },
        },
      },
    ];
    const failure = await replayChain(await sandbox(), tampered, {
      signal: new AbortController().signal,
      deadline: Date.now() + 5000,
    });
    expect(failure).toMatchObject({ kind: 'failed', error: { code: 'MCPV8_ERR_HEAP_REPLAY_FAILED' } });
  });

  it('reports a replay that waits on its journal forever as stalled, at the deadline', async () => {
    const { chain } = await liveSession(['await new Promise((r) => setTimeout(r, 5)); var done = true;']);
    const node = chain[0]!.node;
    const stuck = [
      { ...chain[0]!, node: { ...node, journal: [{ kind: 'now' as const, value: 1 }, ...node.journal] } },
    ];
    const failure = await replayChain(await sandbox(), stuck, {
      signal: new AbortController().signal,
      deadline: Date.now() + 300,
    });
    expect(failure).toMatchObject({ kind: 'failed', error: { code: 'MCPV8_ERR_HEAP_REPLAY_FAILED' } });
    expect((failure as { error: Error }).error.message).toMatch(
      /stopped following its journal at journal entry 0 \(now\)/,
    );
  });
});
