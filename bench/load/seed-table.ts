/**
 * The seed's published load-test table (its README, ../shared/seeds/mcp-v8-readme.txt), kept
 * here verbatim so BENCHMARKS.md can show it beside ours without the seed checked out. The
 * unit tests check this copy against the seed file when it is there.
 */

/** The seed README's lines: the heading sentence, its hardware line, the table, the legend. */
export const SEED_EXCERPT = `Comparison of single-node vs 3-node cluster at various request rates.
ran on railway gha runners on pr
| Topology | Target Rate | Actual Iter/s | HTTP Req/s | Exec Avg (ms) | Exec p95 (ms) | Exec p99 (ms) | Success % | Dropped | Max VUs |
|---|---|---|---|---|---|---|---|---|---|
| cluster-stateful | 100/s | 99.5 | 99.5 | 44.9 | 196.88 | 416.99 | 100% | 31 | 41 |
| cluster-stateful | 200/s | 199.6 | 199.6 | 23.22 | 79.32 | 131.13 | 100% | 13 | 33 |
| cluster-stateless | 1000/s | 999.9 | 999.9 | 3.82 | 7.72 | 13.09 | 100% | 0 | 100 |
| cluster-stateless | 100/s | 100 | 100 | 3.67 | 5.65 | 8.03 | 100% | 0 | 10 |
| cluster-stateless | 200/s | 200 | 200 | 3.56 | 5.9 | 8.61 | 100% | 0 | 20 |
| cluster-stateless | 500/s | 500 | 500 | 3.42 | 5.85 | 9.2 | 100% | 0 | 50 |
| single-stateful | 100/s | 99.1 | 99.1 | 215.12 | 362.5 | 376.6 | 100% | 32 | 42 |
| single-stateful | 200/s | 97.8 | 97.8 | 1948.82 | 2212.55 | 2960.96 | 100% | 5939 | 200 |
| single-stateless | 1000/s | 977.1 | 977.1 | 60.98 | 482.98 | 602.38 | 100% | 843 | 561 |
| single-stateless | 100/s | 100 | 100 | 3.71 | 5.73 | 8.73 | 100% | 0 | 10 |
| single-stateless | 200/s | 200 | 200 | 3.61 | 5.43 | 7.74 | 100% | 0 | 20 |
| single-stateless | 500/s | 500 | 500 | 4.67 | 8.49 | 27.98 | 100% | 0 | 50 |
single = 1 MCP-V8 node; cluster = 3 MCP-V8 nodes with Raft`;

/** The hardware line exactly as the seed states it (nothing more is stated). */
export const SEED_HARDWARE = 'ran on railway gha runners on pr';

/** One row of the seed's table, its figures as numbers. */
export interface SeedRow {
  /** e.g. `single-stateless`. */
  topology: string;
  rate: number;
  iterPerS: number;
  httpReqPerS: number;
  avgMs: number;
  p95Ms: number;
  p99Ms: number;
  successPercent: number;
  dropped: number;
  maxVus: number;
}

export interface SeedTable {
  /** The table's markdown lines as published (header, separator, rows). */
  lines: string[];
  rows: SeedRow[];
}

const HEADER_START = '| Topology | Target Rate | Actual Iter/s |';

/** Finds the seed's table in `text` (its README, or SEED_EXCERPT) and reads its rows. */
export function parseSeedTable(text: string): SeedTable {
  const all = text.split(/\r?\n/);
  const start = all.findIndex((l) => l.startsWith(HEADER_START));
  if (start < 0) throw new Error('seed table: header row not found');
  // The README's next table (a p95 bar chart) follows without a blank line: its header ends ours.
  const lines = all.slice(start, start + 2).map((l) => l.trim());
  for (
    let i = start + 2;
    i < all.length && all[i]!.startsWith('|') && !all[i]!.startsWith('| Topology |');
    i++
  )
    lines.push(all[i]!.trim());
  const rows = lines.slice(2).map((line): SeedRow => {
    const cells = line
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim());
    if (cells.length !== 10) throw new Error(`seed table: expected 10 cells in "${line}"`);
    const n = (i: number) => {
      const x = Number(cells[i]!.replace(/(\/s|%)$/, ''));
      if (!Number.isFinite(x)) throw new Error(`seed table: "${cells[i]}" is not a number in "${line}"`);
      return x;
    };
    return {
      topology: cells[0]!,
      rate: n(1),
      iterPerS: n(2),
      httpReqPerS: n(3),
      avgMs: n(4),
      p95Ms: n(5),
      p99Ms: n(6),
      successPercent: n(7),
      dropped: n(8),
      maxVus: n(9),
    };
  });
  return { lines, rows };
}
