/**
 * One run's figures, as a JSON line and as a row of the markdown table. The table's first ten
 * columns are the seed's (its README's benchmark table, k6 terms) in the seed's order, so the
 * two tables can be read side by side; ours follow.
 *   - Actual Iter/s: completed cells per second; HTTP Req/s: HTTP requests per second (MCP
 *     makes more than one per cell: run_js, then get_execution polls).
 *   - Exec latencies are of successful cells, from the scheduled arrival time to completion.
 *   - Success % is of the cells that finished; Dropped counts arrivals never sent (in-flight
 *     bound, or no free session) plus cells unfinished when the grace period ended.
 *   - Max VUs: most requests in flight (stateless) or sessions busy (stateful) at once.
 *   - Send lag p99 and Load gen CPU say whether the generator kept up: a run whose generator
 *     lagged or sat near 100% of a core measured the client as much as the server.
 */
import { droppedOf, type ArrivalResult } from './arrival.ts';
import { fmt, summarize, type Summary } from './stats.ts';
import type { ServerUsage } from './server-probe.ts';

export interface RunReport {
  topology: string;
  target: 'http' | 'mcp';
  scenario: string;
  rate: number;
  durationS: number;
  scheduled: number;
  sent: number;
  completed: number;
  sentPerS: number;
  completedPerS: number;
  httpReqPerS: number;
  latencyMs: Summary;
  /** Scheduled → actual send: a large value means the generator, not the server, fell behind. */
  sendLagMs: { p99: number; max: number };
  successPercent: number;
  dropped: number;
  droppedAtLimit: number;
  droppedNoVu: number;
  droppedUnfinished: number;
  maxVus: number;
  errors: Record<string, number>;
  /** The load generator's own CPU, % of one core: near 100 it, not the server, is the limit. */
  generatorCpuPercent: number;
  server?: ServerUsage;
}

export function buildReport(opts: {
  topology: string;
  target: 'http' | 'mcp';
  scenario: string;
  result: ArrivalResult;
  requests: number;
  maxVus: number;
  generatorCpuPercent: number;
  server?: ServerUsage;
}): RunReport {
  const r = opts.result;
  const seconds = r.durationMs / 1000;
  // Rates over the schedule's length, or longer when sending or finishing ran past it.
  const per = (n: number, lastMs: number) => n / Math.max(seconds, lastMs / 1000);
  const lag = summarize(r.sendLagMs);
  return {
    topology: opts.topology,
    target: opts.target,
    scenario: opts.scenario,
    rate: r.rate,
    durationS: seconds,
    scheduled: r.scheduled,
    sent: r.sent,
    completed: r.completed,
    sentPerS: per(r.sent, r.lastSentMs),
    completedPerS: per(r.completed, r.lastDoneMs),
    httpReqPerS: per(opts.requests, Math.max(r.lastSentMs, r.lastDoneMs)),
    latencyMs: summarize(r.latenciesMs),
    sendLagMs: { p99: lag.p99, max: lag.max },
    successPercent: r.completed === 0 ? 0 : (r.ok / r.completed) * 100,
    dropped: droppedOf(r),
    droppedAtLimit: r.droppedAtLimit,
    droppedNoVu: r.droppedNoVu,
    droppedUnfinished: r.droppedUnfinished,
    maxVus: opts.maxVus,
    errors: r.errors,
    generatorCpuPercent: opts.generatorCpuPercent,
    ...(opts.server && { server: opts.server }),
  };
}

const HEADER = [
  'Topology',
  'Target Rate',
  'Actual Iter/s',
  'HTTP Req/s',
  'Exec Avg (ms)',
  'Exec p95 (ms)',
  'Exec p99 (ms)',
  'Success %',
  'Dropped',
  'Max VUs',
  'Sent/s',
  'Exec p50 (ms)',
  'Exec max (ms)',
  'Server CPU (% of 1 core)',
  'Server peak RSS (MB)',
  'Send lag p99 (ms)',
  'Load gen CPU %',
];

export function markdownTable(reports: readonly RunReport[]): string {
  const rows = reports.map((r) =>
    [
      r.topology,
      `${r.rate}/s`,
      fmt(r.completedPerS, 1),
      fmt(r.httpReqPerS, 1),
      fmt(r.latencyMs.avg),
      fmt(r.latencyMs.p95),
      fmt(r.latencyMs.p99),
      `${fmt(r.successPercent, r.successPercent === 100 ? 0 : 1)}%`,
      String(r.dropped),
      String(r.maxVus),
      fmt(r.sentPerS, 1),
      fmt(r.latencyMs.p50),
      fmt(r.latencyMs.max),
      fmt(r.server?.cpuPercent, 0),
      fmt(r.server?.peakRssMb, 0),
      fmt(r.sendLagMs.p99),
      fmt(r.generatorCpuPercent, 0),
    ].join(' | '),
  );
  return [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((row) => `| ${row} |`),
  ].join('\n');
}
