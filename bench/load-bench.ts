/**
 * Load benchmark (`npm run bench:load -- …`): open-loop, constant-arrival-rate load (see
 * load/arrival.ts) against the plain HTTP API or MCP over Streamable HTTP, for each scenario ×
 * rate. By default each run gets a fresh embedded server (a child process, stateless for
 * trivial/cpu, with a heap directory for stateful) so runs do not inherit each other's state,
 * and the server's CPU and RSS are probed from /proc. `--topology cluster` sends every run to
 * the cluster mode on the local apiserver harness instead (load/servers.ts). With --url the
 * server is the caller's; pass --server-pid to probe it.
 *
 *   npm run bench:load -- --target http,mcp --scenario trivial,stateful --rates 100,200 --duration 30
 *
 * Prints one JSON line per run as it ends, then a markdown table whose first columns mirror
 * the seed's published table; --out also writes that table (with the machine line) to a file,
 * --out-dir saves the runs as JSON (load.json) for `npm run bench:report`.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runOpenLoop } from './load/arrival.ts';
import { buildReport, markdownTable, type RunReport } from './load/report.ts';
import { mergeResults, readResultsIfAny, writeResults, type LoadResults } from './load/results-file.ts';
import { SCENARIOS, workloadFor, type ScenarioName } from './load/scenarios.ts';
import { clusterServer, embeddedServers, givenServer, type ServerSource } from './load/servers.ts';
import { HttpTarget, McpTarget, type Target } from './load/targets.ts';

const { values } = parseArgs({
  options: {
    topology: { type: 'string', default: 'single' },
    target: { type: 'string', default: 'http' },
    scenario: { type: 'string', default: 'trivial' },
    rates: { type: 'string', default: '100,200,500,1000,2000' },
    duration: { type: 'string', default: '30' },
    url: { type: 'string' },
    'server-pid': { type: 'string' },
    'server-arg': { type: 'string', multiple: true, default: [] },
    token: { type: 'string' },
    grace: { type: 'string', default: '10' },
    'max-in-flight': { type: 'string', default: '10000' },
    'max-sessions': { type: 'string', default: '1000' },
    'mcp-clients': { type: 'string', default: '8' },
    'mcp-wait': { type: 'string', default: '50' },
    'poll-ms': { type: 'string', default: '5' },
    'poll-max-ms': { type: 'string', default: '100' },
    warmup: { type: 'string', default: '50' },
    cooldown: { type: 'string', default: '2' },
    'drain-timeout': { type: 'string', default: '60' },
    'cluster-replicas': { type: 'string', default: '4' },
    'executions-per-pod': { type: 'string', default: '1000' },
    out: { type: 'string' },
    'out-dir': { type: 'string' },
    merge: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`Usage: npm run bench:load -- [options]
  --topology single|cluster      single: a fresh embedded server per run (default); cluster: the
                                 cluster mode on the local apiserver harness (gateway, 2 controllers,
                                 runner pods, kube-apiserver, NATS, MinIO; reuses npm run services:up)
  --target http|mcp[,…]          how cells are sent (default http)
  --scenario trivial|cpu|stateful[,…]  (default trivial)
  --rates 100,200,…              arrivals per second, one run each (default 100,200,500,1000,2000)
  --duration <s>                 length of each run's schedule (default 30)
  --url <base>                   use a running server instead (topology "given")
  --server-pid <pid>             with --url: probe this process tree's CPU and RSS
  --server-arg <flag>            extra flag for the embedded server (repeatable, e.g. --server-arg=--max-queued-executions=5000)
  --token <t>                    bearer token for the server
  --grace <s>                    time after the last arrival for cells to finish (default 10)
  --max-in-flight <n>            outstanding requests before arrivals are dropped (default 10000)
  --max-sessions <n>             stateful: most sessions (virtual users) (default 1000)
  --mcp-clients <n>              MCP sessions calls are spread over (default 8)
  --mcp-wait <s>                 MCP: get_execution's wait_seconds, 0–50 (default 50; 0 polls like the seed's walkthrough)
  --poll-ms <ms>                 MCP with --mcp-wait 0: first pause between get_execution polls (default 5)
  --poll-max-ms <ms>             MCP: the pause doubles up to this (default 100, as the server's ?wait=)
  --warmup <n>                   sequential cells before each measured run (default 50)
  --cooldown <s>                 pause between runs on a shared server (default 2)
  --drain-timeout <s>            shared server: wait for the last run's backlog, then cancel it (default 60)
  --cluster-replicas <n>         cluster: warm runner pods (default 4)
  --executions-per-pod <n>       cluster: executions per runner pod, 1 = a pod each (default 1000)
  --out <file>                   also write the markdown table to this file
  --out-dir <dir>                save the runs as <dir>/load.json, after each run, for npm run bench:report
  --merge                        with --out-dir: keep load.json's other rows, replace those measured again`);
  process.exit(0);
}

function fail(message: string): never {
  process.stderr.write(`load-bench: ${message}\n`);
  process.exit(2);
}
function list<T extends string>(flag: string, raw: string, allowed: readonly T[]): T[] {
  const items = raw.split(',').map((s) => s.trim());
  for (const item of items)
    if (!allowed.includes(item as T)) fail(`--${flag}: "${item}" is not one of ${allowed.join(', ')}`);
  return items as T[];
}
function positive(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) fail(`--${flag} must be a positive number, got "${raw}"`);
  return n;
}

const [topology, ...more] = list('topology', values.topology, ['single', 'cluster'] as const);
if (more.length > 0) fail('--topology takes one of single, cluster');
if (topology === 'cluster' && values.url !== undefined)
  fail('--topology cluster and --url exclude each other');
const targets = list('target', values.target, ['http', 'mcp'] as const);
const scenarios = list('scenario', values.scenario, SCENARIOS);
const rates = values.rates.split(',').map((r) => positive('rates', r));
const durationS = positive('duration', values.duration);
const graceS = positive('grace', values.grace);
const mcpWait = Number(values['mcp-wait']);
if (!Number.isInteger(mcpWait) || mcpWait < 0 || mcpWait > 50)
  fail('--mcp-wait must be an integer from 0 to 50');
const warmup = Number(values.warmup);
const runId = Date.now().toString(36);
// The seed's row labels (single-stateless, single-stateful), so rows compare side by side.
const TOPOLOGY_LABEL: Record<ScenarioName, string> = {
  trivial: 'stateless',
  cpu: 'stateless-cpu',
  stateful: 'stateful',
};

const shared = {
  cooldownS: Number(values.cooldown),
  drainTimeoutS: positive('drain-timeout', values['drain-timeout']),
};
const servers: ServerSource =
  values.url !== undefined
    ? givenServer(values.url, {
        ...shared,
        token: values.token,
        pid: values['server-pid'] === undefined ? undefined : Number(values['server-pid']),
      })
    : topology === 'cluster'
      ? clusterServer({
          ...shared,
          replicas: positive('cluster-replicas', values['cluster-replicas']),
          executionsPerPod: positive('executions-per-pod', values['executions-per-pod']),
        })
      : embeddedServers(values['server-arg']);

async function openTarget(kind: 'http' | 'mcp', url: string, token: string | undefined): Promise<Target> {
  if (kind === 'http') return new HttpTarget(url, durationS + graceS, token);
  return McpTarget.connect(url, {
    clients: positive('mcp-clients', values['mcp-clients']),
    waitSeconds: mcpWait,
    pollMs: positive('poll-ms', values['poll-ms']),
    maxPollMs: positive('poll-max-ms', values['poll-max-ms']),
    token,
  });
}

async function oneRun(kind: 'http' | 'mcp', scenario: ScenarioName, rate: number): Promise<RunReport> {
  const server = await servers.acquire(scenario);
  let target: Target | undefined;
  try {
    target = await openTarget(kind, server.url, server.token);
    const tag = `${runId}-${kind}-${scenario}-${rate}`;
    const opts = { maxSessions: positive('max-sessions', values['max-sessions']), runId: tag };
    // Warm the server's code paths (and runner pools) so the run measures a warm server.
    const warm = workloadFor(scenario, target, { ...opts, runId: `${tag}-warm` });
    const signal = new AbortController().signal;
    for (let i = 0; i < warmup; i++) {
      const attempt = await warm.launch(i, signal);
      if (attempt && !attempt.ok) throw new Error(`warm-up cell failed: ${attempt.error}`);
    }
    const workload = workloadFor(scenario, target, opts);
    const probe = server.probe;
    const requestsBefore = target.requests;
    probe?.begin();
    const cpuBefore = process.cpuUsage();
    const startedAt = performance.now();
    const result = await runOpenLoop(
      {
        rate,
        durationMs: durationS * 1000,
        maxInFlight: positive('max-in-flight', values['max-in-flight']),
        graceMs: graceS * 1000,
      },
      workload.launch,
    );
    const usage = probe?.end();
    const cpu = process.cpuUsage(cpuBefore);
    const generatorCpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - startedAt)) * 100;
    return buildReport({
      topology: `${servers.topology}-${TOPOLOGY_LABEL[scenario]} (${kind})`,
      target: kind,
      scenario,
      result,
      requests: target.requests - requestsBefore,
      maxVus: scenario === 'stateful' ? workload.peakBusy : result.peakInFlight,
      generatorCpuPercent,
      server: usage,
    });
  } finally {
    await target?.close();
    await server.release();
  }
}

const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`;
const command = `npm run bench:load -- ${process.argv.slice(2).join(' ')}`;
const resultsFile = values['out-dir'] === undefined ? undefined : join(values['out-dir'], 'load.json');
const base: LoadResults =
  resultsFile !== undefined && values.merge
    ? readResultsIfAny(resultsFile)
    : { invocations: [], reports: [] };
const invocation = { date: new Date().toISOString().slice(0, 10), machine, command };

// Ctrl-C mid-matrix still stops a cluster deployment (its services and runner pods run in
// process groups of their own, which the terminal's SIGINT does not reach).
process.once('SIGINT', () => void servers.close().finally(() => process.exit(130)));

const reports: RunReport[] = [];
try {
  for (const scenario of scenarios)
    for (const kind of targets)
      for (const rate of rates) {
        const report = await oneRun(kind, scenario, rate);
        reports.push(report);
        console.log(JSON.stringify(report));
        // Saved after every run: an interrupted matrix keeps what it measured.
        if (resultsFile !== undefined)
          writeResults(resultsFile, mergeResults(base, { invocations: [invocation], reports }));
      }
} finally {
  await servers.close();
}

const table = `Machine: ${machine}, ${invocation.date}.
Command: \`${command}\` (duration ${durationS} s per run, grace ${graceS} s).

${markdownTable(reports)}
`;
console.log(`\n${table}`);
if (values.out !== undefined) writeFileSync(values.out, table);
