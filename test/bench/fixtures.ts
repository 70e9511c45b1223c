// RunReports as the load benchmark saves them, with only the figures the renderers read set.
import type { RunReport } from '../../bench/load/report.ts';

export function runReport(topology: string, rate: number, p95: number, dropped = 0): RunReport {
  const target = topology.endsWith('(mcp)') ? 'mcp' : 'http';
  return {
    topology,
    target,
    scenario: topology.includes('stateful') ? 'stateful' : 'trivial',
    rate,
    durationS: 30,
    scheduled: rate * 30,
    sent: rate * 30 - dropped,
    completed: rate * 30 - dropped,
    sentPerS: rate,
    completedPerS: rate,
    httpReqPerS: rate,
    latencyMs: { count: rate * 30, avg: p95 / 2, p50: p95 / 2, p95, p99: p95 * 1.5, max: p95 * 2 },
    sendLagMs: { p99: 1, max: 2 },
    successPercent: 100,
    dropped,
    droppedAtLimit: dropped,
    droppedNoVu: 0,
    droppedUnfinished: 0,
    maxVus: 10,
    errors: {},
    generatorCpuPercent: 20,
    server: { cpuPercent: 80, peakRssMb: 300 },
  };
}
