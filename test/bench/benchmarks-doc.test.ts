// BENCHMARKS.md from saved results: the seed's table read right, our rows paired with the seed's
// rows they compare to, and the hand-written analysis kept when the document is rendered again.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ANALYSIS_END,
  ANALYSIS_START,
  comparisons,
  renderBenchmarksDoc,
} from '../../bench/load/benchmarks-doc.ts';
import { mergeResults, readResults, writeResults, type LoadResults } from '../../bench/load/results-file.ts';
import { parseSeedTable, SEED_EXCERPT } from '../../bench/load/seed-table.ts';
import { runReport } from './fixtures.ts';

const SEED_FILE = fileURLToPath(new URL('../../../shared/seeds/mcp-v8-readme.txt', import.meta.url));
const seed = parseSeedTable(SEED_EXCERPT);

const results = (reports = [runReport('single-stateless (http)', 100, 4)]): LoadResults => ({
  invocations: [
    { date: '2026-11-24', machine: '2 cores (test CPU), Node v24', command: 'npm run bench:load' },
  ],
  reports,
});

describe("the seed's table", () => {
  it.skipIf(!existsSync(SEED_FILE))('is read from the seed README: 12 rows, our copy identical', () => {
    const fromSeed = parseSeedTable(readFileSync(SEED_FILE, 'utf8'));
    expect(fromSeed.rows).toHaveLength(12);
    expect(fromSeed).toEqual(seed);
    expect(fromSeed.rows.find((r) => r.topology === 'single-stateless' && r.rate === 1000)).toMatchObject({
      iterPerS: 977.1,
      p95Ms: 482.98,
      p99Ms: 602.38,
      successPercent: 100,
      dropped: 843,
      maxVus: 561,
    });
    expect(fromSeed.rows.find((r) => r.topology === 'single-stateful' && r.rate === 200)).toMatchObject({
      p95Ms: 2212.55,
      dropped: 5939,
    });
  });

  it('appears verbatim in the document, with their hardware line', () => {
    const doc = renderBenchmarksDoc({ results: results(), seed, chartHref: 'bench/results/load-p95.svg' });
    for (const line of SEED_EXCERPT.split('\n').slice(2, -1)) expect(doc).toContain(line);
    expect(doc).toContain('"ran on railway gha runners on pr"');
    expect(doc).toContain('![Exec p95 by arrival rate');
    expect(doc).toContain('(bench/results/load-p95.svg)');
  });
});

describe('side-by-side comparison', () => {
  it("pairs each of our rows with the seed's row of the same topology and rate", () => {
    const ours = [
      ...[100, 200, 500, 1000, 2000].map((rate) => runReport('single-stateless (http)', rate, 3)),
      ...[100, 200, 500].map((rate) => runReport('single-stateful (http)', rate, 9)),
      runReport('single-stateless (mcp)', 100, 7),
      runReport('single-stateless-cpu (http)', 100, 20),
    ];
    const pairs = comparisons(ours, seed).map((c) => [c.topology, c.rate, c.ours.target, c.theirs.p95Ms]);
    expect(pairs).toEqual([
      ['single-stateless', 100, 'http', 5.73],
      ['single-stateless', 100, 'mcp', 5.73],
      ['single-stateless', 200, 'http', 5.43],
      ['single-stateless', 500, 'http', 8.49],
      ['single-stateless', 1000, 'http', 482.98],
      ['single-stateful', 100, 'http', 362.5],
      ['single-stateful', 200, 'http', 2212.55],
    ]);
  });

  it('pairs our cluster rows with their cluster rows', () => {
    const pairs = comparisons([runReport('cluster-stateful (http)', 100, 90, 5)], seed);
    expect(pairs.map((c) => [c.topology, c.rate, c.theirs.dropped, c.ours.dropped])).toEqual([
      ['cluster-stateful', 100, 31, 5],
    ]);
  });
});

describe('re-rendering', () => {
  it('keeps the hand-written analysis and replaces everything else', () => {
    const first = renderBenchmarksDoc({ results: results(), seed, chartHref: 'c.svg' });
    expect(first).toContain(ANALYSIS_START);
    const analysis = 'At 1000/s the runner pool, not the gateway, is the limit (profile: see below).';
    const edited = first.replace(
      new RegExp(`${ANALYSIS_START}[\\s\\S]*${ANALYSIS_END}`),
      `${ANALYSIS_START}\n\n${analysis}\n\n${ANALYSIS_END}`,
    );
    const again = renderBenchmarksDoc({
      results: results([runReport('single-stateless (http)', 200, 6)]),
      seed,
      chartHref: 'c.svg',
      existing: edited,
    });
    expect(again).toContain(analysis);
    expect(again).not.toContain('Not written yet');
    expect(again).toContain('| single-stateless (http) | 200/s |');
    expect(again).not.toContain('| single-stateless (http) | 100/s |');
  });
});

describe('saved results', () => {
  it('survive a round trip through JSON, a run with no successful cell included', () => {
    const empty = runReport('single-stateful (mcp)', 2000, Number.NaN, 60_000);
    const file = join(mkdtempSync(join(tmpdir(), 'load-results-')), 'load.json');
    writeResults(file, results([empty]));
    expect(readResults(file).reports[0]!.latencyMs.p95).toBeNaN();
    writeFileSync(file, readFileSync(file, 'utf8')); // plain JSON on disk
    expect(JSON.parse(readFileSync(file, 'utf8'))).toBeTruthy();
  });

  it('merge replaces rows measured again and keeps the others', () => {
    const base = results([
      runReport('single-stateless (http)', 100, 4),
      runReport('single-stateless (http)', 200, 5),
    ]);
    const next: LoadResults = {
      invocations: [{ date: '2026-11-25', machine: 'm', command: 'cluster' }],
      reports: [runReport('single-stateless (http)', 200, 50), runReport('cluster-stateless (http)', 10, 80)],
    };
    const merged = mergeResults(base, next);
    expect(merged.reports.map((r) => [r.topology, r.rate, r.latencyMs.p95])).toEqual([
      ['single-stateless (http)', 100, 4],
      ['single-stateless (http)', 200, 50],
      ['cluster-stateless (http)', 10, 80],
    ]);
    expect(merged.invocations.map((i) => i.command)).toEqual(['npm run bench:load', 'cluster']);
  });
});
