// The load benchmark's percentiles are nearest-rank: every figure is a latency that was observed.
import { describe, expect, it } from 'vitest';
import { fmt, percentile, summarize } from '../../bench/load/stats.ts';

describe('load benchmark stats', () => {
  it('takes the nearest-rank percentile of sorted samples', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile(xs, 0)).toBe(1);
    // Rank ⌈0.5 · 3⌉ = 2: the middle sample, never an interpolated 2.5.
    expect(percentile([1, 2, 4], 50)).toBe(2);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarizes unsorted samples numerically', () => {
    const s = summarize([30, 2, 100, 4, 10]);
    expect(s).toEqual({ count: 5, avg: 29.2, p50: 10, p95: 100, p99: 100, max: 100 });
    // A lexicographic sort would put 100 before 2.
    expect(summarize([100, 9]).p50).toBe(9);
  });

  it('reports nothing measured as NaN and prints it as a dash', () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.avg).toBeNaN();
    expect(s.max).toBeNaN();
    expect(fmt(s.p95)).toBe('–');
    expect(fmt(1.234)).toBe('1.23');
  });
});
