/**
 * Runner pod memory benchmark (`npm run bench:pod-memory`, needs root): what a runner pod really
 * costs, measured as the kernel charges it — the container's memory cgroup, not process RSS —
 * with the runner image built from Dockerfile.runner on a real node (test/harness/node/).
 *   1. an idle warm pod: cgroup usage and the runner's RSS;
 *   2. a pod running a cell that fills its isolate heap to ~90 % of the pool's cap and holds it:
 *      the cgroup's peak usage (memory.max_usage_in_bytes) while it runs.
 * The difference between that peak and the heap is the runtime overhead the controller adds to
 * the isolate cap when it sizes a pod's memory limit (RUNTIME_OVERHEAD_MIB). Writes
 * bench/results/pod-memory.md and prints it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import type { V1Pod } from '@kubernetes/client-node';
import { RUNTIME_OVERHEAD_MIB } from '../src/controller/runner-pool/runner-pod.ts';
import { clusterClient, FINAL_PHASES } from '../test/harness/cluster-client.ts';
import { waitFor } from '../test/harness/cluster-deployment.ts';
import { kubeApi } from '../test/harness/kube-api.ts';
import { ctrExec } from '../test/harness/node/containerd.ts';
import { startRealNodeEnv } from '../test/harness/node/real-node-env.ts';
import { startClusterDeployment } from '../test/harness/cluster-deployment.ts';

const MiB = 2 ** 20;
const SAMPLES = 5;
const env = await startRealNodeEnv(`bench-pod-memory-${process.pid}`);
const kube = env.run.endpoints.kube!;
const cluster = await startClusterDeployment({
  services: env.run.endpoints,
  replicas: 1,
  tenants: 1,
  controllers: 1,
  runnerImage: env.node.images.runner.name,
});
const c = clusterClient(kube, () => cluster.gatewayUrl);
const tenant = cluster.tenants[0]!.namespace;

async function warmPod(): Promise<V1Pod> {
  let pod: V1Pod | undefined;
  await waitFor(
    async () => {
      const res = await kubeApi<{ items: V1Pod[] }>(
        kube,
        'GET',
        `/api/v1/namespaces/${cluster.namespace}/pods?labelSelector=mcpv8.dev/runner-pool`,
      );
      pod = res.body.items.find(
        (p) =>
          !p.metadata?.deletionTimestamp &&
          p.status?.conditions?.some((k) => k.type === 'Ready' && k.status === 'True'),
      );
      return pod !== undefined;
    },
    120_000,
    'a warm runner pod',
  );
  return pod!;
}

const inPod = (pod: V1Pod, command: string[]) =>
  ctrExec(
    env.node.ctr,
    env.node.containerdSocket,
    pod.status!.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, ''),
    command,
  );
const cgroup = async (pod: V1Pod, file: string) =>
  Number((await inPod(pod, ['cat', `/sys/fs/cgroup/memory/${file}`])).trim());
const rssOf = async (pod: V1Pod) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(await inPod(pod, ['cat', '/proc/1/status']))![1]) * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const idle: Array<{ usage: number; rss: number }> = [];
const peaks: number[] = [];
const tsPeaks: number[] = [];

/** Runs `code` on `pod` and returns its cgroup's peak usage while it ran. */
async function peakOf(pod: V1Pod, code: string, language: 'javascript' | 'typescript'): Promise<number> {
  const name = await c.applyExecution(tenant, {
    code,
    language,
    limits: { heapMemoryMaxMb: heapMb, timeoutSeconds: 60 },
  });
  await c.waitPhase(tenant, name, ['Running', ...FINAL_PHASES]);
  let peak = 0;
  for (;;) {
    peak = Math.max(peak, await cgroup(pod, 'memory.max_usage_in_bytes').catch(() => peak));
    const e = await c.getExecution(tenant, name);
    if (FINAL_PHASES.includes(e?.status?.phase ?? '')) {
      if (e?.status?.phase !== 'Succeeded')
        throw new Error(`${language} run ended ${JSON.stringify(e?.status)}`);
      return peak;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
let limit = 0;
let heapMb: number;
try {
  const pool = await kubeApi<{ spec: { isolate: { maxHeapMb: number } } }>(
    kube,
    'GET',
    `/apis/mcpv8.dev/v1alpha1/namespaces/${cluster.namespace}/runnerpools/default`,
  );
  heapMb = pool.body.spec.isolate.maxHeapMb;
  const fillMb = Math.floor(heapMb * 0.9);
  for (let i = 0; i < SAMPLES; i++) {
    const pod = await warmPod();
    limit = await cgroup(pod, 'memory.limit_in_bytes');
    idle.push({ usage: await cgroup(pod, 'memory.usage_in_bytes'), rss: await rssOf(pod) });
    // 1 MiB per array of 131072 doubles; held until the cell ends.
    peaks.push(
      await peakOf(
        pod,
        `globalThis.keep = []; for (let i = 0; i < ${fillMb}; i++) keep.push(new Array(131072).fill(i + 0.5));
         await new Promise((r) => setTimeout(r, 3000)); keep.length`,
        'javascript',
      ),
    );
    // A TypeScript cell: its transform starts the runner's worker thread (its own V8 heap).
    tsPeaks.push(
      await peakOf(
        await warmPod(),
        `const n: number = 6 * 7; await new Promise<void>((r) => setTimeout(r, 3000)); n`,
        'typescript',
      ),
    );
  }
} finally {
  await cluster.close();
  await env.stop();
}

const mib = (b: number) => (b / MiB).toFixed(0);
const peak = median(peaks);
const report = `# Runner pod memory (cgroup usage, real node)

Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.
Command: \`npm run bench:pod-memory\`. The runner image built from Dockerfile.runner, run by a real kubelet through
containerd and runc (cgroup v1); figures read from the container's memory cgroup, medians of ${SAMPLES} pods.

| what | MiB |
| --- | ---: |
| pod memory limit (the controller's: ${heapMb} MiB cap + ${RUNTIME_OVERHEAD_MIB} MiB overhead) | ${mib(limit)} |
| idle warm pod: cgroup usage | ${mib(median(idle.map((i) => i.usage)))} |
| idle warm pod: runner process RSS (for comparison) | ${mib(median(idle.map((i) => i.rss)))} |
| a cell holding ${Math.floor(heapMb * 0.9)} MiB of its ${heapMb} MiB heap: cgroup peak | ${mib(peak)} |
| runtime overhead measured (peak − ${Math.floor(heapMb * 0.9)} MiB held) | ${mib(peak - Math.floor(heapMb * 0.9) * MiB)} |
| a TypeScript cell (the transform worker started): cgroup peak | ${mib(median(tsPeaks))} |
| the runner's guard (3/4 of the limit, on the same cgroup charge) | ${mib(limit * 0.75)} |
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/pod-memory.md', import.meta.url), report);
console.log(report);
