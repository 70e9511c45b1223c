import { afterEach, describe, expect, it } from 'vitest';
import { LiveHeapCache } from '../../src/runner/live-heap-cache.ts';
import { Sandbox } from '../../src/runner/sandbox/sandbox.ts';
import { runCell } from './run-cell.ts';

const OPTS = {
  heapMb: 8,
  maxOutputBytes: 1 << 20,
  maxResultBytes: 1 << 20,
  maxTimers: 100,
  maxWasmPages: 100,
};
const heapId = (n: number) => n.toString(16).padStart(64, '0');
let cache: LiveHeapCache | undefined;
afterEach(() => cache?.close());

describe('live heap cache', () => {
  it('keeps at most maxEntries isolates, the least recently used going first', async () => {
    cache = new LiveHeapCache({ maxEntries: 2, maxBytes: 1 << 30, idleMs: 60_000 });
    const sandboxes = await Promise.all([1, 2, 3].map(() => Sandbox.create(OPTS)));
    sandboxes.forEach((s, i) => cache!.put(heapId(i), s));
    expect(cache.take(heapId(0), 8)).toBeUndefined();
    expect(cache.take(heapId(1), 8)).toBe(sandboxes[1]);
    expect(cache.take(heapId(2), 8)).toBe(sandboxes[2]);
    for (const s of sandboxes) s.dispose();
  });

  it('keeps no more V8 heap than maxBytes between its isolates', async () => {
    const sandboxes = await Promise.all([1, 2, 3, 4].map(() => Sandbox.create(OPTS)));
    const each = sandboxes[0]!.host.memoryBytes();
    expect(each).toBeGreaterThan(0);
    // Room for about two and a half idle isolates, whatever their count bound.
    cache = new LiveHeapCache({ maxEntries: 100, maxBytes: Math.floor(each * 2.5), idleMs: 60_000 });
    sandboxes.forEach((s, i) => cache!.put(heapId(i), s));
    expect(cache.size.entries).toBe(2);
    expect(cache.size.bytes).toBeLessThanOrEqual(each * 2.5);
    expect(cache.take(heapId(3), 8)).toBe(sandboxes[3]);
    expect(cache.take(heapId(0), 8)).toBeUndefined();
    expect(cache.size.entries).toBe(1);
    for (const s of sandboxes) s.dispose();
  });
});

const MiB = 1024 * 1024;

/** A sandbox in which `code` ran to completion (as a session's cell before its isolate is kept). */
async function holding(code: string, heapMb = 8): Promise<Sandbox> {
  const sandbox = await Sandbox.create({ ...OPTS, heapMb, maxWasmPages: 4096 });
  const outcome = await runCell(sandbox, code, { timeoutMs: 10_000 });
  expect(outcome.status, JSON.stringify(outcome.error)).toBe('completed');
  return sandbox;
}

// (module (memory (export "mem") 320)): a module that defines and exports a 20 MiB memory.
const EXPORTS_MEMORY = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x00, 0xc0, 0x02, 0x07, 0x07, 0x01, 0x03,
  0x6d, 0x65, 0x6d, 0x02, 0x00,
];

describe('live heap cache: memory outside the V8 heap', () => {
  it.each([
    ['a WebAssembly memory', 'globalThis.m = new WebAssembly.Memory({ initial: 320 }); 1', 8],
    ['an ArrayBuffer', 'globalThis.b = new ArrayBuffer(20 * 1024 * 1024); 1', 32],
    [
      'a resizable ArrayBuffer',
      'globalThis.b = new ArrayBuffer(1, { maxByteLength: 64e6 }); b.resize(20 * 1024 * 1024); 1',
      8,
    ],
    [
      'a growable SharedArrayBuffer',
      'globalThis.b = new SharedArrayBuffer(20 * 1024 * 1024, { maxByteLength: 64e6 }); 1',
      8,
    ],
    [
      'a transferred resizable buffer',
      'globalThis.b = new ArrayBuffer(20 * 1024 * 1024, { maxByteLength: 64e6 }).transfer(); 1',
      8,
    ],
    [
      "an instance's exported memory",
      `globalThis.i = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([${EXPORTS_MEMORY.join(',')}]))); 1`,
      8,
    ],
  ])(
    'counts %s held by a kept isolate, and evicts the oldest to stay within maxBytes',
    async (_name, code, heapMb) => {
      const sandboxes = [
        await holding(code, heapMb),
        await holding(code, heapMb),
        await holding(code, heapMb),
      ];
      // Room for two such isolates, not three: the 20 MiB each holds outside its heap must count.
      cache = new LiveHeapCache({ maxEntries: 100, maxBytes: 50 * MiB, idleMs: 60_000 });
      sandboxes.forEach((s, i) => cache!.put(heapId(i), s));
      expect(cache.size.entries).toBe(2);
      expect(cache.size.bytes).toBeGreaterThan(40 * MiB);
      expect(cache.take(heapId(0), heapMb)).toBeUndefined();
      expect(cache.take(heapId(2), heapMb)).toBe(sandboxes[2]);
      for (const s of sandboxes) s.dispose();
    },
  );

  it('disposes live isolates, oldest first, while the process is above maxRssBytes', async () => {
    const sandboxes = await Promise.all([1, 2, 3].map(() => Sandbox.create(OPTS)));
    // Memory no count sees (a module's own memory grown by wasm code, say): 150 MiB per live
    // isolate on top of 250 MiB, which disposing an isolate gives back.
    let unseen = 0;
    const rss = () => 250 * MiB + unseen * sandboxes.filter((s) => !s.disposed).length;
    cache = new LiveHeapCache({
      maxEntries: 100,
      maxBytes: 1 << 30,
      idleMs: 60_000,
      maxRssBytes: 500 * MiB,
      rss,
    });
    sandboxes.forEach((s, i) => cache!.put(heapId(i), s));
    expect(cache.relieve()).toBe(0);
    unseen = 150 * MiB;
    expect(cache.relieve()).toBe(2);
    expect(rss()).toBeLessThanOrEqual(500 * MiB);
    expect(sandboxes.map((s) => s.disposed)).toEqual([true, true, false]);
    expect(cache.take(heapId(2), 8)).toBe(sandboxes[2]);
    expect(cache.size.evictedForRss).toBe(2);
    sandboxes[2]!.dispose();
  });

  it('keeps an isolate only while the process has room for it', async () => {
    const sandbox = await Sandbox.create(OPTS);
    cache = new LiveHeapCache({
      maxEntries: 100,
      maxBytes: 1 << 30,
      idleMs: 60_000,
      maxRssBytes: 500 * MiB,
      rss: () => 600 * MiB,
    });
    cache.put(heapId(1), sandbox);
    expect(cache.size.entries).toBe(0);
    expect(sandbox.disposed).toBe(true);
  });
});
