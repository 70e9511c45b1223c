/**
 * Latency summaries for the load benchmark. Percentiles use the nearest-rank method (the value
 * at rank ⌈p/100·n⌉ of the sorted samples), so every reported figure is a latency that was
 * actually observed — no interpolation between two requests invents a latency nobody saw.
 */

export interface Summary {
  count: number;
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending `sorted`; NaN when there are no samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((Math.min(p, 100) / 100) * n);
  return sorted[Math.min(n, rank) - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  // A typed array sorts numerically without a comparator and is far cheaper for 100k samples.
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    count: n,
    avg: n === 0 ? Number.NaN : sum / n,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: n === 0 ? Number.NaN : sorted[n - 1]!,
  };
}

/** A figure for a table: fixed decimals, or `–` when there was nothing to measure. */
export function fmt(x: number | undefined, digits = 2): string {
  return x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}
