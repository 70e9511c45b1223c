import { ApiException } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Controller } from '../../../src/controller/runtime/controller.ts';
import { ControllerMetrics } from '../../../src/controller/runtime/controller-metrics.ts';
import { ExponentialBackoffLimiter } from '../../../src/controller/runtime/rate-limiter.ts';
import { reconcilerFunc, TerminalError } from '../../../src/controller/runtime/reconciler.ts';

const conflict = () => new ApiException<unknown>(409, 'Conflict', {}, {});
const backoff = (baseMs = 100) => ({
  rateLimiter: new ExponentialBackoffLimiter<string>({ baseMs, maxMs: 10_000 }),
});

/** A promise with its resolve function, to hold reconciles open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe('Controller', () => {
  let stop: AbortController;
  beforeEach(() => {
    stop = new AbortController();
    vi.useFakeTimers();
  });
  afterEach(() => {
    stop.abort();
    vi.useRealTimers();
  });

  it('reconciles at most `concurrency` keys at once, each key once', async () => {
    const held = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    const seen: string[] = [];
    const c = new Controller({
      name: 'test',
      concurrency: 3,
      reconciler: reconcilerFunc(async (key) => {
        seen.push(key);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await held.promise;
        inFlight--;
      }),
    });
    for (let i = 0; i < 10; i++) c.enqueue(`ns/k${i}`);
    const running = c.start(stop.signal);
    await vi.advanceTimersByTimeAsync(10);
    expect(inFlight).toBe(3);
    expect(c.queue.len()).toBe(7);
    held.open();
    await vi.advanceTimersByTimeAsync(10);
    expect(maxInFlight).toBe(3);
    expect(seen.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `ns/k${i}`).sort());
    stop.abort();
    await running;
  });

  it('runs a key re-enqueued mid-reconcile once more afterwards, never twice at once', async () => {
    let inFlight = 0;
    let overlapped = false;
    let runs = 0;
    const first = gate();
    const c = new Controller({
      name: 'test',
      concurrency: 4,
      reconciler: reconcilerFunc(async () => {
        if (++inFlight > 1) overlapped = true;
        if (++runs === 1) await first.promise;
        inFlight--;
      }),
    });
    c.enqueue('ns/a');
    const running = c.start(stop.signal);
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < 5; i++) c.enqueue('ns/a');
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(1);
    first.open();
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(2);
    expect(overlapped).toBe(false);
    stop.abort();
    await running;
  });

  it('treats a 409 as "recompute": requeued at once, no backoff, not an error', async () => {
    const registry = new Registry();
    const metrics = new ControllerMetrics(registry);
    const attempts: number[] = [];
    const c = new Controller({
      name: 'conflicts',
      queue: backoff(1000),
      metrics,
      reconciler: reconcilerFunc(async () => {
        attempts.push(Date.now());
        if (attempts.length <= 3) throw conflict();
      }),
    });
    c.enqueue('ns/a');
    const running = c.start(stop.signal);
    // No timer needs to fire: all four attempts happen back to back.
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toHaveLength(4);
    expect(new Set(attempts).size).toBe(1);
    expect(c.queue.retries('ns/a')).toBe(0);
    expect(c.queue.delayed()).toBe(0);
    expect(await metricValue(registry, 'mcpv8_controller_reconciles_total', { result: 'conflict' })).toBe(3);
    expect(await metricValue(registry, 'mcpv8_controller_reconciles_total', { result: 'success' })).toBe(1);
    expect(await metricValue(registry, 'mcpv8_controller_reconcile_errors_total', { kind: 'conflict' })).toBe(
      3,
    );
    expect(
      await metricValue(registry, 'mcpv8_controller_queue_retries_total', { controller: 'conflicts' }),
    ).toBe(0);
    stop.abort();
    await running;
  });

  it('falls back to backoff after too many conflicts in a row (a stale body resent in a loop)', async () => {
    let attempts = 0;
    const c = new Controller({
      name: 'test',
      queue: backoff(1000),
      maxImmediateConflicts: 2,
      reconciler: reconcilerFunc(async () => {
        attempts++;
        throw conflict();
      }),
    });
    c.enqueue('ns/a');
    const running = c.start(stop.signal);
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toBe(3);
    expect(c.queue.retries('ns/a')).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(attempts).toBe(4);
    stop.abort();
    await running;
  });

  it('retries errors with growing backoff and forgets it on success', async () => {
    const registry = new Registry();
    const attempts: number[] = [];
    const start = Date.now();
    const c = new Controller({
      name: 'errors',
      queue: backoff(100),
      metrics: new ControllerMetrics(registry),
      reconciler: reconcilerFunc(async () => {
        attempts.push(Date.now() - start);
        if (attempts.length <= 3) throw new Error('boom');
      }),
    });
    c.enqueue('ns/a');
    const running = c.start(stop.signal);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.queue.retries('ns/a')).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    // 100, then 200, then 400 ms after each failure.
    expect(attempts).toEqual([0, 100, 300, 700]);
    expect(c.queue.retries('ns/a')).toBe(0);
    expect(await metricValue(registry, 'mcpv8_controller_reconcile_errors_total', { kind: 'other' })).toBe(3);
    expect(
      await metricValue(registry, 'mcpv8_controller_queue_retries_total', { controller: 'errors' }),
    ).toBe(3);
    stop.abort();
    await running;
  });

  it('requeues after requeueAfterMs and does not retry a terminal error', async () => {
    const calls: string[] = [];
    const c = new Controller({
      name: 'test',
      queue: backoff(10),
      reconciler: reconcilerFunc(async (key) => {
        calls.push(key);
        if (key === 'ns/bad') throw new TerminalError('invalid spec');
        return calls.filter((k) => k === key).length === 1 ? { requeueAfterMs: 500 } : undefined;
      }),
    });
    c.enqueue('ns/ttl');
    c.enqueue('ns/bad');
    const running = c.start(stop.signal);
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toEqual(['ns/ttl', 'ns/bad']);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['ns/ttl', 'ns/bad', 'ns/ttl']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toHaveLength(3);
    stop.abort();
    await running;
  });

  it('stops: aborts reconciles in flight, waits for them, drops queued keys', async () => {
    const signals: AbortSignal[] = [];
    let finished = 0;
    const c = new Controller({
      name: 'test',
      concurrency: 2,
      reconciler: reconcilerFunc(async (_key, signal) => {
        signals.push(signal);
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        finished++;
      }),
    });
    for (const k of ['a', 'b', 'c', 'd']) c.enqueue(k);
    const running = c.start(stop.signal);
    await vi.advanceTimersByTimeAsync(1);
    expect(signals).toHaveLength(2);
    stop.abort();
    await running;
    expect(finished).toBe(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(c.queue.len()).toBe(0);
    await expect(c.start(stop.signal)).rejects.toThrow(/already started/);
  });
});
