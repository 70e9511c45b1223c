import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  defaultRateLimiter,
  ExponentialBackoffLimiter,
  MaxOfLimiter,
  TokenBucketLimiter,
} from '../../../src/controller/runtime/rate-limiter.ts';
import { WorkQueue } from '../../../src/controller/runtime/workqueue.ts';

/** Resolves with the key `get` hands out, or 'pending' if it is still waiting after a tick. */
async function settled<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

describe('WorkQueue', () => {
  it('dedups a key that is already queued and keeps first-in order', async () => {
    const q = new WorkQueue();
    expect(q.add('a')).toBe(true);
    expect(q.add('b')).toBe(true);
    expect(q.add('a')).toBe(true);
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('marks a key added during processing dirty and hands it out again after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    expect(key).toBe('a');
    q.add('a');
    q.add('a');
    // Not queued while a worker holds it.
    expect(q.len()).toBe(0);
    q.done('a');
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('never hands one key to two workers at once', async () => {
    const q = new WorkQueue();
    const first = q.get();
    const second = q.get();
    q.add('a');
    expect(await first).toBe('a');
    q.add('a');
    expect(await settled(second)).toBe('pending');
    q.add('b');
    // The idle worker takes other work meanwhile.
    expect(await second).toBe('b');
    const third = q.get();
    expect(await settled(third)).toBe('pending');
    q.done('a');
    expect(await third).toBe('a');
  });

  it('wakes waiting workers in order as keys arrive', async () => {
    const q = new WorkQueue();
    const waiting = [q.get(), q.get(), q.get()];
    q.add('x');
    q.add('y');
    expect(await waiting[0]).toBe('x');
    expect(await waiting[1]).toBe('y');
    expect(await settled(waiting[2]!)).toBe('pending');
    q.done('x');
    q.done('y');
    await q.shutDown();
    expect(await waiting[2]).toBeUndefined();
  });

  it('refuses new keys beyond maxQueued, but not re-adds of known keys', async () => {
    const q = new WorkQueue({ maxQueued: 2 });
    expect(q.add('a')).toBe(true);
    expect(q.add('b')).toBe(true);
    expect(q.add('c')).toBe(false);
    expect(q.add('a')).toBe(true);
    expect(q.dropped).toBe(1);
    expect(await q.get()).toBe('a');
    // One slot is free again; a processing key can always be marked dirty.
    expect(q.add('a')).toBe(true);
    expect(q.add('c')).toBe(true);
    expect(q.add('d')).toBe(false);
  });

  describe('with fake timers', () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());

    it('adds a key after its delay, keeping the earlier of two delays', async () => {
      const q = new WorkQueue();
      q.addAfter('a', 1000);
      q.addAfter('a', 100);
      q.addAfter('a', 5000);
      expect(q.delayed()).toBe(1);
      await vi.advanceTimersByTimeAsync(99);
      expect(q.len()).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(q.len()).toBe(1);
      expect(q.delayed()).toBe(0);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(q.len()).toBe(1);
    });

    it('backs a failing key off exponentially until forgotten', async () => {
      const q = new WorkQueue({ rateLimiter: new ExponentialBackoffLimiter({ baseMs: 5, maxMs: 40 }) });
      const delays: number[] = [];
      for (let i = 0; i < 6; i++) {
        q.addRateLimited('a');
        let waited = 0;
        while (q.len() === 0) {
          await vi.advanceTimersByTimeAsync(1);
          waited++;
        }
        delays.push(waited);
        expect(await q.get()).toBe('a');
        q.done('a');
      }
      expect(delays).toEqual([5, 10, 20, 40, 40, 40]);
      expect(q.retries('a')).toBe(6);
      q.forget('a');
      expect(q.retries('a')).toBe(0);
      q.addRateLimited('a');
      await vi.advanceTimersByTimeAsync(5);
      expect(q.len()).toBe(1);
    });

    it('drains on shutdown: hands out what is queued, drops delayed keys, refuses new ones', async () => {
      const q = new WorkQueue();
      q.add('a');
      q.add('b');
      q.addAfter('c', 50);
      const held = await q.get();
      expect(held).toBe('a');
      let drained = false;
      const shutdown = q.shutDown().then(() => (drained = true));
      expect(q.add('d')).toBe(false);
      expect(q.addAfter('e', 10)).toBe(false);
      expect(q.delayed()).toBe(0);
      expect(await q.get()).toBe('b');
      expect(await q.get()).toBeUndefined();
      q.done('b');
      await vi.advanceTimersByTimeAsync(100);
      expect(drained).toBe(false);
      q.done('a');
      await shutdown;
      expect(drained).toBe(true);
      expect(q.len()).toBe(0);
    });

    it('releases idle workers on shutdown', async () => {
      const q = new WorkQueue();
      const waiting = q.get();
      await q.shutDown();
      expect(await waiting).toBeUndefined();
    });
  });
});

describe('rate limiters', () => {
  it('caps exponential backoff per key and forgets per key', () => {
    const limiter = new ExponentialBackoffLimiter<string>({ baseMs: 5, maxMs: 1_000_000 });
    const delays = Array.from({ length: 30 }, () => limiter.when('a'));
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(delays.at(-1)).toBe(1_000_000);
    expect(limiter.when('b')).toBe(5);
    limiter.forget('a');
    expect(limiter.when('a')).toBe(5);
    expect(() => new ExponentialBackoffLimiter({ baseMs: 0 })).toThrow(RangeError);
  });

  it('lets a token bucket burst, then spaces tries at its rate', () => {
    let now = 0;
    const bucket = new TokenBucketLimiter<string>({ qps: 10, burst: 3, now: () => now });
    expect([bucket.when('a'), bucket.when('b'), bucket.when('c')]).toEqual([0, 0, 0]);
    // Out of tokens: each further try waits for the next free one.
    expect(bucket.when('d')).toBe(100);
    expect(bucket.when('e')).toBe(200);
    now = 1000;
    expect(bucket.when('f')).toBe(0);
  });

  it('takes the longest delay of its limiters (client-go default: 5 ms .. 1000 s, 10 qps, burst 100)', () => {
    let now = 0;
    const limiter = defaultRateLimiter<string>({ now: () => now });
    expect(limiter.when('a')).toBe(5);
    expect(limiter.when('a')).toBe(10);
    for (let i = 0; i < 98; i++) limiter.when(`k${i}`);
    // The 101st try in the same instant: the bucket (10 qps) now outweighs a fresh key's 5 ms.
    expect(limiter.when('fresh')).toBe(100);
    now = 60_000;
    expect(limiter.retries('a')).toBe(2);
    const max = new MaxOfLimiter<string>(new ExponentialBackoffLimiter({ baseMs: 1 }));
    max.when('x');
    max.forget('x');
    expect(max.retries('x')).toBe(0);
  });
});
