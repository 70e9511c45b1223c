// Memory held outside the V8 heap by live session isolates (wasm memories, resizable
// ArrayBuffers) counts in the runner's live-heap budget: with ~650 MB of it held by sessions on
// the one runner, an innocent 40 MB cell still completes (live heaps are evicted first, never the
// innocent cell), and the sessions can still be resumed afterwards (replayed if evicted). One
// runner process (--max-concurrent-executions 1), so every session shares it. See
// harness/hostile-server.ts.
import { describe, expect, it } from 'vitest';
import { checkServerAndVictim, watchCase } from './harness/case-watch.ts';
import { runCell } from './harness/cell-cases.ts';
import { describeEnd } from './harness/rest-calls.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer({ concurrency: 1, parallel: 1 });

/** Each holder keeps ~108 MiB of touched memory outside the V8 heap. */
const HOLDERS = [
  'globalThis.m = new WebAssembly.Memory({ initial: 1728 }); new Uint8Array(m.buffer).fill(1); m.buffer.byteLength',
  'globalThis.m = new WebAssembly.Memory({ initial: 1728 }); new Uint8Array(m.buffer).fill(2); m.buffer.byteLength',
  'globalThis.m = new WebAssembly.Memory({ initial: 1728 }); new Uint8Array(m.buffer).fill(3); m.buffer.byteLength',
  'globalThis.b = new ArrayBuffer(0, { maxByteLength: 108 * 2 ** 20 }); b.resize(108 * 2 ** 20); new Uint8Array(b).fill(4); b.byteLength',
  'globalThis.b = new ArrayBuffer(0, { maxByteLength: 108 * 2 ** 20 }); b.resize(108 * 2 ** 20); new Uint8Array(b).fill(5); b.byteLength',
  'globalThis.m = new WebAssembly.Memory({ initial: 1728 }); new Uint8Array(m.buffer).fill(6); m.buffer.byteLength',
];

describe('live heaps holding memory outside the V8 heap', () => {
  it(
    'an innocent 40 MB cell completes while sessions hold ~650 MB, and the sessions still resume',
    { timeout: 240_000 },
    async () => {
      const s = file.server;
      const watch = watchCase(s);
      const held: Array<{ session: string; heap?: string; status: string }> = [];
      for (const [i, code] of HOLDERS.entries()) {
        const session = `holder-${i}`;
        const { view } = await runCell(s, { code, session }, `holder ${i}`);
        // A holder may itself be refused memory (failed/OutOfMemory or a RangeError); it must not crash anything.
        expect(['completed', 'failed'], `holder ${i}: ${describeEnd(view)}`).toContain(view.status);
        if (view.status === 'failed')
          expect(['OutOfMemory', 'Error'], describeEnd(view)).toContain(view.error?.reason);
        held.push({ session, heap: view.heap, status: view.status });
      }
      const innocent = await runCell(
        s,
        { code: 'const a = new Uint8Array(40 << 20).fill(7); a.length + a[123]', heapMb: 64 },
        'innocent 40 MB cell',
      );
      expect(innocent.view.status, `innocent cell: ${describeEnd(innocent.view)}`).toBe('completed');
      expect(innocent.view.result).toBe(String((40 << 20) + 7));
      for (const h of held.filter((x) => x.status === 'completed')) {
        const { view } = await runCell(
          s,
          { code: '(globalThis.m?.buffer ?? globalThis.b).byteLength', session: h.session, heap: h.heap },
          `resume ${h.session}`,
        );
        expect(view.status, `resume ${h.session}: ${describeEnd(view)}`).toBe('completed');
      }
      expect(await s.runnerRestarts(), 'the runner was replaced').toBe(0);
      await checkServerAndVictim(s, file.victim, watch, 'live budget');
    },
  );
});

describe('the whole file', () => file.closingChecks());
