/**
 * Cluster benchmark (`npm run bench:cluster`): Executions through the real controller on the
 * harness deployment (chart on the harness kube-apiserver, 2 controllers, gateway, runner pods
 * as local processes, real NATS JetStream and MinIO):
 *   1. create → Succeeded latency of sequential `1 + 1` Executions, each created once the pool
 *      has its warm pods again (per-execution pods; then pooled pods for comparison);
 *   2. the same through the gateway: MCP run_js, then get_execution polled every 10 ms;
 *   3. throughput: M Executions created at once, until all Succeeded.
 * Phases are observed with a watch on the tenant namespace's Executions (client clock). Runner
 * start-up is measured from the pod's ADDED event to its runner's first NATS announcement.
 * Reuses a live `npm run services:up` run, else starts NATS, MinIO and kube for the run.
 * Writes bench/results/cluster.md and prints it.
 */
import { request } from 'node:https';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connect } from '@nats-io/transport-node';
import { execFileSync } from 'node:child_process';
import { allOutcomes } from '../src/cluster/outcome-stream.ts';
import { pct, renderClusterReport, type Latency, type Throughput } from './cluster-report.ts';
import { DEFAULT_RUNNER_SUBJECT_PREFIX as PREFIX, heartbeatSubject } from '../src/cluster/runner-subjects.ts';
import { startBenchCluster } from './harness-cluster.ts';
import { waitFor } from '../test/harness/cluster-deployment.ts';
import { kubeApi } from '../test/harness/kube-api.ts';
import type { KubeEndpoint } from '../test/harness/kube.ts';

const { values } = parseArgs({
  options: {
    sequential: { type: 'string', default: '40' },
    concurrent: { type: 'string', default: '60' },
    gateway: { type: 'string', default: '20' },
    // real: runner pods on a real node (needs root); fake: local processes of the fake kubelet.
    node: { type: 'string', default: 'real' },
  },
});
if (values.node !== 'real' && values.node !== 'fake') throw new Error('--node is real or fake');
const REAL_NODE = values.node === 'real';
const N = Number(values.sequential);
const M = Number(values.concurrent);
const G = Number(values.gateway);
const REPLICAS = 4;

type Obj = {
  metadata: { name: string; deletionTimestamp?: string; generation?: number };
  status?: { phase?: string; readyReplicas?: number; observedGeneration?: number; runner?: { pod?: string } };
};

/** A watch keeping the latest object by name and calling `onEvent` with the arrival time. */
function watch(kube: KubeEndpoint, path: string, onEvent: (type: string, o: Obj, at: number) => void) {
  const objects = new Map<string, Obj>();
  let buffer = '';
  const req = request(`${kube.server}${path}?watch=1`, {
    ca: kube.caPem,
    headers: { authorization: `Bearer ${kube.adminToken}`, accept: 'application/json' },
  });
  req.on('response', (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const at = performance.now();
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line) as { type: string; object: Obj };
        if (ev.type === 'DELETED') objects.delete(ev.object.metadata.name);
        else objects.set(ev.object.metadata.name, ev.object);
        onEvent(ev.type, ev.object, at);
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { objects, close: () => req.destroy() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const bench = await startBenchCluster({
  id: 'bench-cluster',
  replicas: REPLICAS,
  executionsPerPod: 1,
  tenants: 1,
  realNode: REAL_NODE,
});
const { services, cluster } = bench;
const kube = services.kube!;
const ns = cluster.tenants[0]!.namespace;
const poolPath = `/apis/mcpv8.dev/v1alpha1/namespaces/${cluster.namespace}/runnerpools/default`;

// Phase first-seen times by Execution name; pod ADDED / Running times and first announcements.
const seen = new Map<string, Record<string, number>>();
/** Watch events (API writes) per Execution: what the control plane spends on each. */
const writes = new Map<string, number>();
const podAdded = new Map<string, number>();
const podRunning = new Map<string, number>();
const announced = new Map<string, number>();
const execWatch = watch(kube, `/apis/mcpv8.dev/v1alpha1/namespaces/${ns}/executions`, (_t, o, at) => {
  const phase = o.status?.phase;
  writes.set(o.metadata.name, (writes.get(o.metadata.name) ?? 0) + 1);
  const times = seen.get(o.metadata.name) ?? {};
  if (phase && times[phase] === undefined) times[phase] = at;
  seen.set(o.metadata.name, times);
});
const podWatch = watch(kube, `/api/v1/namespaces/${cluster.namespace}/pods`, (type, o, at) => {
  if (type === 'ADDED' && !podAdded.has(o.metadata.name)) podAdded.set(o.metadata.name, at);
  if (o.status?.phase === 'Running' && !podRunning.has(o.metadata.name)) podRunning.set(o.metadata.name, at);
});
const poolWatch = watch(
  kube,
  `/apis/mcpv8.dev/v1alpha1/namespaces/${cluster.namespace}/runnerpools`,
  () => {},
);
const nc = await connect({ servers: services.nats!.url });
const sub = nc.subscribe(heartbeatSubject(PREFIX));
void (async () => {
  for await (const m of sub) {
    const id = m.json<{ runnerId: string }>().runnerId;
    if (podAdded.has(id) && !announced.has(id)) announced.set(id, performance.now());
  }
})();
// The runner's durable outcome (a JetStream publish is seen by plain subscribers too).
const outcomeAt = new Map<string, number>();
const outcomes = nc.subscribe(allOutcomes(PREFIX));
void (async () => {
  for await (const m of outcomes) {
    const id = m.json<{ executionId: string }>().executionId;
    outcomeAt.set(id.slice(id.indexOf('/') + 1), performance.now());
  }
})();

/** REPLICAS pods Running, not deleting, and their runners announced: ready for work in fact. */
const announcedWarm = (usedUp?: string) =>
  [...podWatch.objects.values()].filter(
    (p) =>
      p.status?.phase === 'Running' &&
      !p.metadata.deletionTimestamp &&
      announced.has(p.metadata.name) &&
      p.metadata.name !== usedUp,
  ).length >= REPLICAS;
/** Warm: REPLICAS pods Running and not deleting, and the pool's readyReplicas says so too. */
const warm = () => {
  const pods = [...podWatch.objects.values()].filter(
    (p) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp,
  );
  const pool = poolWatch.objects.get('default');
  return (
    pods.length >= REPLICAS &&
    announcedWarm() &&
    (pool?.status?.readyReplicas ?? 0) >= REPLICAS &&
    pool?.status?.observedGeneration === pool?.metadata?.generation
  );
};
const waitWarm = async () => {
  const deadline = Date.now() + 120_000;
  while (!warm()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a warm pool');
    await sleep(2);
  }
};

let seq = 0;
async function create(code = '1 + 1'): Promise<{ name: string; t0: number }> {
  const name = `b${process.pid.toString(36)}-${seq++}`;
  const t0 = performance.now();
  const res = await kubeApi(
    kube,
    'PATCH',
    `/apis/mcpv8.dev/v1alpha1/namespaces/${ns}/executions/${name}?fieldManager=kubectl&force=true`,
    {
      body: { apiVersion: 'mcpv8.dev/v1alpha1', kind: 'Execution', metadata: { name }, spec: { code } },
      contentType: 'application/apply-patch+yaml',
    },
  );
  if (res.status >= 300) throw new Error(`create ${name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  return { name, t0 };
}
const FINAL = ['Succeeded', 'Failed', 'TimedOut', 'Cancelled'];
const finalPhase = (name: string) => FINAL.find((p) => seen.get(name)?.[p] !== undefined);
async function waitDone(names: string[], timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (names.some((n) => !finalPhase(n))) {
    if (Date.now() > deadline) throw new Error('timed out waiting for Executions to finish');
    await sleep(1);
  }
  const failed = names.filter((n) => finalPhase(n) !== 'Succeeded');
  if (failed.length) {
    const why = await Promise.all(
      failed.map(async (n) => {
        const e = await kubeApi<{ status?: { error?: unknown; runner?: unknown } }>(
          kube,
          'GET',
          `/apis/mcpv8.dev/v1alpha1/namespaces/${ns}/executions/${n}`,
        );
        return `${n}=${finalPhase(n)} ${JSON.stringify(e.body.status?.error)} on ${JSON.stringify(e.body.status?.runner)}`;
      }),
    );
    throw new Error(`not Succeeded: ${why.join(', ')}`);
  }
}

/** `count` Executions one after the other; `perExecution`: the pod of each is used up. */
async function sequential(count: number, perExecution: boolean): Promise<Latency> {
  const out: Latency = {
    total: [],
    toRunning: [],
    runningToDone: [],
    runningToOutcome: [],
    outcomeToDone: [],
    rewarm: [],
    statusLag: [],
  };
  for (let i = 0; i < count; i++) {
    await waitWarm();
    const { name, t0 } = await create();
    await waitDone([name]);
    const s = seen.get(name)!;
    out.total.push(s.Succeeded! - t0);
    if (s.Running !== undefined) {
      out.toRunning.push(s.Running - t0);
      out.runningToDone.push(s.Succeeded! - s.Running);
      const o = outcomeAt.get(name);
      if (o !== undefined) out.runningToOutcome.push(o - s.Running);
      if (o !== undefined) out.outcomeToDone.push(s.Succeeded! - o);
    }
    const pod = perExecution ? execWatch.objects.get(name)?.status?.runner?.pod : undefined;
    if (perExecution && !pod) throw new Error(`${name}: no status.runner.pod`);
    while (!announcedWarm(pod)) await sleep(2);
    const ready = performance.now();
    out.rewarm.push(ready - s.Succeeded!);
    await waitWarm();
    out.statusLag.push(performance.now() - ready);
  }
  return out;
}

async function throughput(count: number): Promise<Throughput> {
  await waitWarm();
  const t0 = performance.now();
  const made = await Promise.all(Array.from({ length: count }, () => create()));
  await waitDone(made.map((m) => m.name));
  const end = Math.max(...made.map((m) => seen.get(m.name)!.Succeeded!));
  const lat = made.map((m) => seen.get(m.name)!.Succeeded! - m.t0);
  const seconds = (end - t0) / 1000;
  return { seconds, perSecond: count / seconds, p50: pct(lat, 50), p95: pct(lat, 95) };
}

async function viaGateway(count: number): Promise<number[]> {
  const client = new Client({ name: 'cluster-bench', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${cluster.gatewayUrl}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${cluster.tenants[0]!.token}` } },
    }),
  );
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      await waitWarm();
      const t0 = performance.now();
      const started = await client.callTool({ name: 'run_js', arguments: { code: '1 + 1' } });
      const id = (started.structuredContent as { execution_id: string }).execution_id;
      for (;;) {
        const r = await client.callTool({ name: 'get_execution', arguments: { execution_id: id } });
        const v = r.structuredContent as { status: string; result?: string };
        if (v.status === 'completed' && v.result === '2') break;
        if (v.status !== 'queued' && v.status !== 'running') throw new Error(`run_js: ${JSON.stringify(v)}`);
        await sleep(10);
      }
      times.push(performance.now() - t0);
    }
  } finally {
    await client.close();
  }
  return times;
}

/** CPU and wall time of loading the runner pod's module graph in a fresh process (median of 3). */
function runnerImportCost(): { cpu: number; wall: number } {
  const script =
    "const t=performance.now();await import('./src/runner/pod/runner-pod.ts');" +
    'const u=process.cpuUsage();console.log(JSON.stringify({cpu:(u.user+u.system)/1000,wall:performance.now()-t}))';
  const runs = Array.from(
    { length: 3 },
    () =>
      JSON.parse(
        execFileSync(process.execPath, ['--no-node-snapshot', '--input-type=module', '-e', script], {
          cwd: new URL('..', import.meta.url),
          encoding: 'utf8',
        }),
      ) as { cpu: number; wall: number },
  );
  const [cpu, wall] = [runs.map((r) => r.cpu), runs.map((r) => r.wall)];
  return { cpu: pct(cpu, 50), wall: pct(wall, 50) };
}

let report: string;
const loadBefore = loadavg()[0]!;
try {
  await waitFor(warm, 120_000, 'a warm pool');
  // One throwaway execution: first-use costs (JetStream consumers, S3 clients) are not the figure.
  await sequential(2, true);
  const podsBefore = new Set(podAdded.keys());
  const perExec = await sequential(N, true);
  const gw = G > 0 ? await viaGateway(G) : [];
  const podsSequential = new Set(podAdded.keys());
  const tpPerExec = await throughput(M);
  // Runner start-up (ADDED → Running → announced) of the pods created one at a time (sequential
  // runs) and of those created during the throughput run (up to REPLICAS starting at once).
  const startup = (from: Set<string>, to: Set<string> | undefined) => {
    const pods = [...podAdded.keys()].filter(
      (p) => !from.has(p) && (!to || to.has(p)) && announced.has(p) && podRunning.has(p),
    );
    return {
      spawnMs: pods.map((p) => podRunning.get(p)! - podAdded.get(p)!),
      bootMs: pods.map((p) => announced.get(p)! - podRunning.get(p)!),
      startMs: pods.map((p) => announced.get(p)! - podAdded.get(p)!),
    };
  };
  const oneAtATime = startup(podsBefore, podsSequential);
  const concurrent = startup(podsSequential, undefined);
  const load = runnerImportCost();

  const patched = await kubeApi(kube, 'PATCH', poolPath, {
    body: { spec: { executionsPerPod: 1000, replicas: REPLICAS } },
    contentType: 'application/merge-patch+json',
  });
  if (patched.status >= 300)
    throw new Error(`patch pool: HTTP ${patched.status} ${JSON.stringify(patched.body)}`);
  await sleep(500);
  await waitWarm();
  await throughput(8); // warm-up of the pooled pods
  const pooledLat = await sequential(N, false);
  const tpPooled = await throughput(M);

  report = renderClusterReport({
    realNode: REAL_NODE,
    replicas: REPLICAS,
    counts: { sequential: N, gateway: G, concurrent: M },
    load: [loadBefore, loadavg()[0]!],
    perExec,
    pooledLat,
    gateway: gw,
    startup: { oneAtATime, concurrent, importCost: load },
    writesPerExecution: pct([...writes.values()], 50),
    throughput: { perExec: tpPerExec, pooled: tpPooled },
  });
} finally {
  execWatch.close();
  podWatch.close();
  poolWatch.close();
  await nc.close();
  await bench.close();
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/cluster.md', import.meta.url), report);
console.log(report);
