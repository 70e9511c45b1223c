/**
 * The load benchmark's chart: p95 latency by arrival rate, ours beside the seed's, as a plain
 * SVG written here (no charting library, no browser). Horizontal bars on a log scale — the
 * figures span 1 ms to seconds — grouped by topology, then by rate; each bar is annotated
 * with its p95 and, when there were any, the dropped arrivals and the share of sent cells that
 * failed (refused with 429 when the queue was full, say) — p95 counts successes only, so a low
 * p95 beside many drops or failures is no success. A panel is drawn for every topology we measured, with the seed's rows of the
 * same topology in it; a run with no successful cell gets a stub bar and says so.
 */
import type { RunReport } from './report.ts';
import type { SeedRow } from './seed-table.ts';

export interface ChartInput {
  reports: readonly RunReport[];
  seed: readonly SeedRow[];
  /** Subtitle lines: our machine, their hardware. */
  notes: readonly string[];
}

interface Bar {
  series: string;
  p95: number;
  dropped: number;
  /** Cells sent that did not succeed (e.g. refused with 429 when the queue was full), %. */
  failedPercent: number;
}

const COLORS: Record<string, string> = {
  theirs: '#9e9e9e',
  'ours (http)': '#1f77b4',
  'ours (mcp)': '#ff7f0e',
};
const PANEL_ORDER = [
  'single-stateless',
  'single-stateless-cpu',
  'single-stateful',
  'cluster-stateless',
  'cluster-stateful',
];

const W = 980;
const X0 = 190; // left edge of the plot; panel and rate labels to its left
const X1 = W - 230; // right edge; the annotations of the longest bars go beyond it
const BAR = 13;
const BAR_GAP = 2;
const GROUP_GAP = 8;
const PANEL_HEAD = 24;

/** Where a topology's rows go: the seed's kinds in a fixed order, others after them. */
export const panelRank = (panel: string): number =>
  PANEL_ORDER.includes(panel) ? PANEL_ORDER.indexOf(panel) : PANEL_ORDER.length;

/** Topology without the target suffix: `single-stateless (http)` → `single-stateless`. */
export const panelOf = (topology: string): string => topology.replace(/\s*\(.*\)$/, '');

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));

/** Panels (topology → rate → bars) in a stable, readable order. */
function panels(input: ChartInput): [string, Map<number, Bar[]>][] {
  const byPanel = new Map<string, Map<number, Bar[]>>();
  const add = (panel: string, rate: number, bar: Bar) => {
    const rates = byPanel.get(panel) ?? new Map<number, Bar[]>();
    byPanel.set(panel, rates);
    rates.set(rate, [...(rates.get(rate) ?? []), bar]);
  };
  for (const r of input.reports)
    add(panelOf(r.topology), r.rate, {
      series: `ours (${r.target})`,
      p95: r.latencyMs.p95,
      dropped: r.dropped,
      failedPercent: 100 - r.successPercent,
    });
  for (const s of input.seed)
    if (byPanel.has(s.topology))
      add(s.topology, s.rate, {
        series: 'theirs',
        p95: s.p95Ms,
        dropped: s.dropped,
        failedPercent: 100 - s.successPercent,
      });
  return [...byPanel.entries()]
    .sort(([a], [b]) => panelRank(a) - panelRank(b) || a.localeCompare(b))
    .map(([panel, rates]) => {
      const sorted = [...rates.entries()].sort(([a], [b]) => a - b);
      // Theirs first in each group, then ours by target name.
      for (const [, bars] of sorted)
        bars.sort((a, b) =>
          a.series === 'theirs' ? -1 : b.series === 'theirs' ? 1 : a.series.localeCompare(b.series),
        );
      return [panel, new Map(sorted)];
    });
}

/** The chart as a standalone SVG document. */
export function renderChart(input: ChartInput): string {
  const layout = panels(input);
  const values = layout.flatMap(([, rates]) => [...rates.values()].flat().map((b) => b.p95));
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.max(0.1, 10 ** Math.floor(Math.log10(Math.min(1, ...finite))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(10, ...finite)));
  const x = (v: number) =>
    X0 + ((Math.log10(Math.max(lo, v)) - Math.log10(lo)) / Math.log10(hi / lo)) * (X1 - X0);

  const out: string[] = [];
  const series = [
    ...new Set(layout.flatMap(([, rates]) => [...rates.values()].flat().map((b) => b.series))),
  ].sort((a, b) => (a === 'theirs' ? -1 : b === 'theirs' ? 1 : a.localeCompare(b)));
  let y = 28;
  out.push(
    `<text x="${W / 2}" y="${y}" text-anchor="middle" font-size="17" font-weight="bold">` +
      'Exec p95 latency by arrival rate: ours vs the seed’s published figures</text>',
  );
  for (const note of input.notes) {
    y += 18;
    out.push(
      `<text x="${W / 2}" y="${y}" text-anchor="middle" font-size="12" fill="#444">${esc(note)}</text>`,
    );
  }
  y += 26;
  let lx = X0;
  for (const s of series) {
    const label = s === 'theirs' ? 'theirs (seed README)' : s;
    out.push(`<rect x="${lx}" y="${y - 10}" width="14" height="12" fill="${COLORS[s] ?? '#2ca02c'}"/>`);
    out.push(`<text x="${lx + 20}" y="${y}" font-size="12">${esc(label)}</text>`);
    lx += 40 + label.length * 7;
  }
  y += 30;
  const plotTop = y;
  const body: string[] = [];
  for (const [panel, rates] of layout) {
    body.push(`<text x="10" y="${y + 16}" font-size="13" font-weight="bold">${esc(panel)}</text>`);
    y += PANEL_HEAD;
    for (const [rate, bars] of rates) {
      const h = bars.length * (BAR + BAR_GAP) - BAR_GAP;
      body.push(`<text x="${X0 - 8}" y="${y + h / 2 + 4}" text-anchor="end" font-size="12">${rate}/s</text>`);
      for (const b of bars) {
        const ok = Number.isFinite(b.p95);
        const w = ok ? Math.max(2, x(b.p95) - X0) : 2;
        const fill = COLORS[b.series] ?? '#2ca02c';
        body.push(
          `<rect class="bar" data-series="${esc(b.series)}" data-rate="${rate}" x="${X0}" y="${y}" ` +
            `width="${w.toFixed(1)}" height="${BAR}" fill="${fill}"/>`,
        );
        const failed = Math.round(b.failedPercent);
        const note =
          (ok ? `${ms(b.p95)} ms` : 'no successful cell') +
          (b.dropped > 0 ? ` · ${b.dropped} dropped` : '') +
          (failed > 0 ? ` · ${failed}% failed` : '');
        const warn = b.dropped > 0 || failed > 0;
        body.push(
          `<text x="${(X0 + w + 5).toFixed(1)}" y="${y + BAR - 2}" font-size="11"` +
            `${warn ? ' fill="#b00020"' : ''}>${esc(note)}</text>`,
        );
        y += BAR + BAR_GAP;
      }
      y += GROUP_GAP - BAR_GAP;
    }
    y += 6;
  }
  const plotBottom = y;
  // Decade grid lines and labels, top and bottom, under the bars.
  const grid: string[] = [];
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    const gx = x(v).toFixed(1);
    const label = v >= 1 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(1)));
    grid.push(`<line x1="${gx}" y1="${plotTop - 6}" x2="${gx}" y2="${plotBottom}" stroke="#ddd"/>`);
    grid.push(`<text x="${gx}" y="${plotTop - 10}" text-anchor="middle" font-size="11">${label}</text>`);
    grid.push(`<text x="${gx}" y="${plotBottom + 14}" text-anchor="middle" font-size="11">${label}</text>`);
  }
  grid.push(`<line x1="${X0}" y1="${plotTop - 6}" x2="${X0}" y2="${plotBottom}" stroke="#333"/>`);
  const height = plotBottom + 44;
  const axisTitle =
    `<text x="${(X0 + X1) / 2}" y="${plotBottom + 34}" text-anchor="middle" font-size="12">` +
    'Exec p95 (ms, log scale; latency from the scheduled arrival to completion)</text>';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" ` +
      'font-family="Helvetica, Arial, sans-serif">',
    `<rect width="${W}" height="${height}" fill="#fff"/>`,
    ...out,
    ...grid,
    ...body,
    axisTitle,
    '</svg>',
    '',
  ].join('\n');
}
