/**
 * BENCHMARKS.md, rendered from the load benchmark's saved results (results-file.ts): our table,
 * the seed's published table verbatim beside it with their hardware line, a side-by-side of
 * the rows both measured, the chart, and how to reproduce. The analysis is written by hand
 * between `<!-- analysis -->` and `<!-- /analysis -->`; a re-render keeps whatever is there.
 */
import { panelOf, panelRank } from './chart.ts';
import { markdownTable, type RunReport } from './report.ts';
import type { LoadResults } from './results-file.ts';
import { SEED_HARDWARE, type SeedTable } from './seed-table.ts';
import { fmt } from './stats.ts';

export const ANALYSIS_START = '<!-- analysis -->';
export const ANALYSIS_END = '<!-- /analysis -->';
const ANALYSIS_PLACEHOLDER =
  '_Not written yet: what limits each figure (profiles, measured limits) and which targets of issue 8 are met._';

/** A row both tables have: the seed's figures and ours for the same topology and rate. */
export interface Comparison {
  topology: string;
  rate: number;
  theirs: { p95Ms: number; dropped: number };
  ours: RunReport;
}

/** Our rows that have a seed row of the same topology (target suffix aside) and rate. */
export function comparisons(reports: readonly RunReport[], seed: SeedTable): Comparison[] {
  const out: Comparison[] = [];
  for (const ours of reports) {
    const topology = panelOf(ours.topology);
    const theirs = seed.rows.find((s) => s.topology === topology && s.rate === ours.rate);
    if (theirs) out.push({ topology, rate: ours.rate, theirs, ours });
  }
  return out.sort(
    (a, b) =>
      panelRank(a.topology) - panelRank(b.topology) ||
      a.topology.localeCompare(b.topology) ||
      a.rate - b.rate ||
      a.ours.target.localeCompare(b.ours.target),
  );
}

/** The hand-written analysis of `existing` (a previous BENCHMARKS.md), if it has one. */
export function analysisOf(existing: string | undefined): string | undefined {
  const start = existing?.indexOf(ANALYSIS_START) ?? -1;
  const end = existing?.indexOf(ANALYSIS_END, start) ?? -1;
  if (existing === undefined || start < 0 || end < 0) return undefined;
  const text = existing.slice(start + ANALYSIS_START.length, end).trim();
  return text === '' ? undefined : text;
}

function comparisonTable(rows: readonly Comparison[]): string {
  if (rows.length === 0) return '_No run matches a row of the seed’s table (same topology and rate) yet._';
  return [
    '| Topology | Rate | Theirs: Exec p95 (ms) | Theirs: Dropped | Ours: target | Ours: Exec p95 (ms) | Ours: Dropped |',
    '|---|---:|---:|---:|---|---:|---:|',
    ...rows.map(
      (c) =>
        `| ${c.topology} | ${c.rate}/s | ${c.theirs.p95Ms} | ${c.theirs.dropped} | ${c.ours.target} | ` +
        `${fmt(c.ours.latencyMs.p95)} | ${c.ours.dropped} |`,
    ),
  ].join('\n');
}

export interface DocInput {
  results: LoadResults;
  seed: SeedTable;
  /** The chart's path relative to the document. */
  chartHref: string;
  /** The document as it is now, for its analysis section. */
  existing?: string;
}

/** BENCHMARKS.md (before formatting). */
export function renderBenchmarksDoc(input: DocInput): string {
  const { results, seed } = input;
  const hasCluster = results.reports.some((r) => r.topology.startsWith('cluster'));
  const invocations = results.invocations.map(
    (i) => `- ${i.date}, ${i.machine}: \`${i.command.replace(/`/g, "'")}\``,
  );
  return `# Load benchmark

<!-- Rendered by \`npm run bench:report\` from bench/results/load.json. Edit only between the analysis markers; the rest is rewritten. -->

Open-loop, constant-arrival-rate load (k6's \`constant-arrival-rate\` model): each arrival is sent at its
scheduled time whether or not earlier ones finished, so a slow server cannot slow the schedule and hide its
own latency. Each cell is "submit, then wait until it finished" — \`POST /api/exec?wait=\` (http) or MCP
\`tools/call run_js\` then \`get_execution\` with \`wait_seconds\`, which answers when the execution ends (mcp;
\`--mcp-wait 0\` polls instead, like the seed's walkthrough). Latency runs from the arrival's scheduled time to
completion, successful cells only; an arrival that could not be sent, or did not finish within the grace
period, is counted as dropped. Generator: \`bench/load-bench.ts\` and \`bench/load/\`.

## Ours

Measured by:

${invocations.join('\n') || '- (no runs saved yet)'}

${results.reports.length > 0 ? markdownTable(results.reports) : '_No runs saved yet._'}

- Topology: \`single\` is one embedded \`mcp-v8\` node started per run (a child process; stateless, or
  with a heap directory for stateful); \`(http)\`/\`(mcp)\` is how cells were sent. \`stateless\` runs the
  seed's style of one-liners (\`1 + 1\`, \`Math.sqrt(144)\`, …), \`stateless-cpu\` a ~10 ms CPU-bound cell,
  \`stateful\` chained sessions (each cell resumes the heap the session's previous cell committed).${
    hasCluster
      ? `
- \`cluster\` is our cluster mode on the local apiserver harness: 1 gateway + 2 controllers + pooled runner
  pods (4 unless \`--cluster-replicas\` says otherwise; local processes started by a fake kubelet) over a
  real kube-apiserver with etcd, NATS JetStream and MinIO — all of it on the same cores as the load
  generator. Its server CPU and RSS sum every process of the deployment, services included; the fake
  kubelet runs inside the load generator. The runs share one deployment: before each, the previous run's
  backlog is waited for and, after \`--drain-timeout\`, cancelled.`
      : ''
  }
- Columns after Max VUs are ours: Sent/s (arrivals actually sent), p50 and max, the server's CPU (% of
  one core) and peak RSS over its whole process tree, and the generator's send lag p99 and own CPU — a
  lagging or saturated generator measured itself as much as the server.

## Theirs (the seed's published table)

Copied verbatim from the seed's README. Their hardware, as they state it: "${SEED_HARDWARE}" — GitHub
Actions runners on Railway; no CPU model or core count is given. Their legend: single = 1 MCP-V8 node;
cluster = 3 MCP-V8 nodes with Raft.

${seed.lines.join('\n')}

## Side by side

Rows both tables have (same topology and rate); different machines, so read the shapes (where latency
climbs, where arrivals start to drop) more than the absolute figures.

${comparisonTable(comparisons(results.reports, seed))}

## Chart

![Exec p95 by arrival rate, ours vs the seed's](${input.chartHref})

## Analysis

${ANALYSIS_START}

${analysisOf(input.existing) ?? ANALYSIS_PLACEHOLDER}

${ANALYSIS_END}

## How to reproduce

\`\`\`sh
npm run bench:load -- --target http,mcp --scenario trivial,cpu,stateful --rates 100,200,500,1000,2000 --duration 30 --out-dir bench/results
npm run bench:load -- --topology cluster --scenario trivial,stateful --rates 10,20,50,100 --duration 30 --out-dir bench/results --merge
npm run bench:report    # BENCHMARKS.md and bench/results/load-p95.svg from bench/results/load.json
\`\`\`

The cluster runs reuse services started by \`npm run services:up\`, else start their own and stop them
afterwards. \`npm run bench\` runs all of it (after the runner, heap and cluster benchmarks);
\`npm run bench:load -- --help\` lists the options.
`;
}
