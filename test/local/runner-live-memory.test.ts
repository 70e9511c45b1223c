// Memory that live session isolates hold outside their V8 heaps (WebAssembly memories, ArrayBuffers,
// resizable buffers) counts against the runner's live-heap budget (issue 14, class 3): with
// ~600 MB of it held by idle sessions, an innocent cell still has room, because the runner
// evicted the least recently used sessions first instead of being killed over its RSS. An
// evicted session loses nothing: its next cell replays its heap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionOutcome, RunRequest } from '../../src/core/index.ts';
import { OWN_MEMORY_MODULE_SOURCE } from '../runner/own-memory-wasm.ts';
import { openOneRunner, type OneRunner } from './one-runner.ts';

// One runner with the default RSS cap (768 MiB) and as many live heaps as the server keeps by
// default: every session below lives in the same process, and only memory bounds evict.
let runner: OneRunner;
beforeAll(async () => {
  runner = await openOneRunner({}, { runner: { liveHeaps: 64 } });
});
afterAll(() => runner?.close());

const run = (code: string, opts: Partial<RunRequest> = {}): Promise<ExecutionOutcome> =>
  runner.run(code, opts);

/** An innocent cell of 40 MB (5 M doubles in a 64 MiB heap), held long enough for the supervisor to see it. */
const innocent = 'const a = new Array(5e6).fill(1.5); await new Promise((r) => setTimeout(r, 300)); a.length';

describe('memory live sessions hold outside their heaps', () => {
  it.each([
    [
      'WebAssembly memories (6 × 100 MB)',
      6,
      16,
      'globalThis.m = new WebAssembly.Memory({ initial: 1600 }); new Uint8Array(m.buffer).fill(7); m.buffer.byteLength',
      'new Uint8Array(m.buffer)[12345]',
    ],
    [
      'ArrayBuffers (10 × 60 MB)',
      10,
      64,
      'globalThis.b = new ArrayBuffer(60e6); new Uint8Array(b).fill(7); b.byteLength',
      'new Uint8Array(b)[12345]',
    ],
    [
      'resizable ArrayBuffers (6 × 100 MB)',
      6,
      16,
      'globalThis.b = new ArrayBuffer(0, { maxByteLength: 100e6 }); b.resize(100e6); new Uint8Array(b).fill(7); b.byteLength',
      'new Uint8Array(b)[12345]',
    ],
    [
      "a module's own memory, filled by wasm code (6 × 100 MB, seen only in the runner's RSS)",
      6,
      16,
      `globalThis.inst = new WebAssembly.Instance(${OWN_MEMORY_MODULE_SOURCE}); inst.exports.fill(); 1`,
      'typeof inst.exports.fill',
      '"function"',
    ],
  ])(
    '%s: an innocent 40 MB cell completes, and evicted sessions resume',
    async (_name, sessions, heapMb, hold, read, expected = '7') => {
      const pid = runner.pool.pids()[0];
      const heaps: string[] = [];
      for (let i = 0; i < sessions; i++) {
        // Each session its own heap: the same cell from the same start would be the same heap id.
        const held = await run(`globalThis.session = ${i}; ${hold}`, { persist: true, heapMb });
        expect(held.status, JSON.stringify(held.error)).toBe('completed');
        heaps.push(held.heap!);
      }
      const victim = await run(innocent, { heapMb: 64 });
      expect(victim, JSON.stringify(victim.error)).toMatchObject({ status: 'completed', result: '5000000' });
      expect(runner.pool.pids()).toEqual([pid]);
      expect(runner.pool.stats().restarts).toBe(0);
      // The oldest session was evicted: its next cell replays it, memory and all.
      const resumed = await run(read, { persist: true, heapMb, heap: heaps[0] });
      expect(resumed, JSON.stringify(resumed.error)).toMatchObject({ status: 'completed', result: expected });
    },
  );
});
