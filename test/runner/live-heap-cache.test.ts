import { afterEach, describe, expect, it } from 'vitest';
import { LiveHeapCache } from '../../src/runner/live-heap-cache.ts';
import { Sandbox } from '../../src/runner/sandbox/sandbox.ts';

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
    const each = sandboxes[0]!.host.heapCommittedBytes();
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
