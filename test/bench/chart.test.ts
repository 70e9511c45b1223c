// The p95 chart is a well-formed SVG with a bar for each of our runs and for each seed row of
// the topologies we ran, labelled so that a reader can tell the series, the scale and the drops.
import { describe, expect, it } from 'vitest';
import { renderChart } from '../../bench/load/chart.ts';
import { parseSeedTable, SEED_EXCERPT } from '../../bench/load/seed-table.ts';
import { runReport } from './fixtures.ts';
import { xmlProblems } from './well-formed-xml.ts';

const seed = parseSeedTable(SEED_EXCERPT).rows;
const reports = [
  ...[100, 200, 500, 1000, 2000].map((rate) => runReport('single-stateless (http)', rate, rate / 100)),
  ...[100, 200].map((rate) => runReport('single-stateless (mcp)', rate, 12)),
  runReport('single-stateful (http)', 100, 30),
  runReport('single-stateful (http)', 200, Number.NaN, 6000),
  runReport('cluster-stateless (http)', 20, 150, 3),
  // Most cells refused at once (429): a low p95 of the few that ran must not read as a success.
  { ...runReport('single-stateless-cpu (http)', 1000, 40), successPercent: 12.3 },
];
const svg = renderChart({ reports, seed, notes: ['Ours: 2 cores & more <test>', 'Theirs: "as stated"'] });
const bars = (series: RegExp) =>
  [...svg.matchAll(/<rect class="bar" data-series="([^"]*)"/g)].filter((m) => series.test(m[1]!)).length;

describe('load chart (SVG)', () => {
  it('is well-formed XML with an SVG root', () => {
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });

  it('catches what is not well-formed (the check itself works)', () => {
    expect(xmlProblems('<svg><g></svg>')).not.toEqual([]);
    expect(xmlProblems('<svg><text>a & b</text></svg>')).not.toEqual([]);
    expect(xmlProblems('<svg a="1" a="2"/>')).not.toEqual([]);
  });

  it('draws one bar per run of ours and per seed row of the topologies we ran', () => {
    expect(bars(/^ours/)).toBe(reports.length);
    // single-stateless 4 rows, single-stateful 2, cluster-stateless 4; cluster-stateful not run by us.
    expect(bars(/^theirs$/)).toBe(10);
  });

  it('has a title, a legend, a labelled log axis, and the dropped counts and failed shares', () => {
    expect(svg).toContain('Exec p95 latency by arrival rate');
    for (const label of ['theirs (seed README)', 'ours (http)', 'ours (mcp)'])
      expect(svg).toContain(`>${label}<`);
    expect(svg).toContain('Exec p95 (ms, log scale');
    expect(svg).toContain('>1,000<');
    expect(svg).toContain('483 ms · 843 dropped');
    expect(svg).toContain('no successful cell · 6000 dropped');
    expect(svg).toContain('40.0 ms · 88% failed');
    expect(svg).toContain('Ours: 2 cores &amp; more &lt;test&gt;');
  });
});
