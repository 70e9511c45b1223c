// Cluster mode on a real node: the controller's runner pods run from the runner image built from
// Dockerfile.runner, started by a real kubelet through containerd and runc, under the limits the
// kernel enforces (test/harness/node/). The same deployment as the fake-kubelet suites: chart
// RBAC, controllers and a gateway as local processes, real NATS, S3 and kube-apiserver.
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clusterClient, EXEC, FINAL_PHASES, type ClusterClient } from '../harness/cluster-client.ts';
import { startClusterDeployment, waitFor, type ClusterDeployment } from '../harness/cluster-deployment.ts';
import { kubeApi } from '../harness/kube-api.ts';
import { ctrExec } from '../harness/node/containerd.ts';
import { ONE_FILL_WASM, STEP_GROW_WASM, wasmExportsSource } from '../runner/own-memory-wasm.ts';

const services = inject('services');
const node = inject('realNode');
const kube = services.kube!;
let cluster: ClusterDeployment;
let c: ClusterClient;
let tenant: string;

beforeAll(async () => {
  cluster = await startClusterDeployment({
    services,
    replicas: 1,
    tenants: 1,
    controllers: 1,
    runnerImage: node.images.runner.name,
  });
  c = clusterClient(kube, () => cluster.gatewayUrl);
  tenant = cluster.tenants[0]!.namespace;
  await warmPod();
}, 300_000);

afterAll(async () => {
  await cluster?.close();
}, 120_000);

async function pods(): Promise<V1Pod[]> {
  const res = await kubeApi<{ items: V1Pod[] }>(
    kube,
    'GET',
    `/api/v1/namespaces/${cluster.namespace}/pods?labelSelector=mcpv8.dev/runner-pool`,
  );
  return res.body.items;
}

const isReady = (p: V1Pod) =>
  !p.metadata?.deletionTimestamp &&
  p.status?.conditions?.some((k) => k.type === 'Ready' && k.status === 'True');

/** The pool's one warm pod, once it is ready (the pool refilled). */
async function warmPod(): Promise<V1Pod> {
  let ready: V1Pod | undefined;
  await waitFor(
    async () => {
      const all = await pods();
      ready = all.find(isReady);
      return ready !== undefined && all.filter((p) => !p.metadata?.deletionTimestamp).length === 1;
    },
    120_000,
    'the pool to have its one warm pod ready',
  );
  return ready!;
}

/** Runs `command` in the runner container of a running pod. */
function inPod(pod: V1Pod, command: string[]): Promise<string> {
  const id = pod.status?.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`pod ${pod.metadata?.name} has no container`);
  return ctrExec(node.ctr, node.containerdSocket, id, command);
}

/** Bytes of a Kubernetes memory quantity (the forms the controller writes). */
function bytesOf(quantity: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!m) throw new Error(`unexpected quantity ${quantity}`);
  return Number(m[1]) * { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? '']!;
}

describe('runner pods on a real kubelet', () => {
  it('run a kubectl-applied Execution to Succeeded in a real container of the built runner image', async () => {
    const pod = await warmPod();
    expect(pod.spec?.nodeName).toBe(node.name);
    expect(pod.status?.containerStatuses?.[0]?.containerID).toMatch(/^containerd:\/\//);
    expect(pod.status?.containerStatuses?.[0]?.image).toContain(node.images.runner.name.split(':')[0]);
    expect(pod.status?.podIP).toMatch(/^10\.77\.0\./);
    const name = await c.applyExecution(tenant, { code: '6 * 7' });
    const done = await c.waitPhase(tenant, name, FINAL_PHASES);
    expect(done.status?.phase, JSON.stringify(done.status)).toBe('Succeeded');
    expect(done.status?.result).toBe('42');
    expect(done.status?.runner).toEqual({ pod: pod.metadata?.name, node: node.name });
  });

  it('run as uid 1000 on a read-only root, with no ServiceAccount token and the memory limit the controller computed', async () => {
    const pod = await warmPod();
    expect((await inPod(pod, ['id', '-u'])).trim()).toBe('1000');
    await expect(inPod(pod, ['touch', '/app/written'])).rejects.toThrow(/Read-only file system/);
    await expect(inPod(pod, ['touch', '/tmp/written'])).resolves.toBe('');
    await expect(inPod(pod, ['ls', '/var/run/secrets/kubernetes.io/serviceaccount'])).rejects.toThrow(
      /No such file/,
    );
    const limit = pod.spec!.containers[0]!.resources!.limits!.memory!;
    const cgroupLimit = (await inPod(pod, ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])).trim();
    expect(Number(cgroupLimit)).toBe(bytesOf(String(limit)));
  });

  it('run MCP run_js through the gateway, and resume the session on a second real pod', async () => {
    const client = await c.mcpClient(cluster.tenants[0]!.token);
    try {
      const first = await c.call(client, 'run_js', {
        code: 'var count = 41; console.log("in a pod"); count',
      });
      const ran = await c.waitPhase(tenant, first.execution_id as string, FINAL_PHASES);
      expect(ran.status?.phase, JSON.stringify(ran.status)).toBe('Succeeded');
      const heap = ran.status?.heap;
      expect(heap).toMatch(/^[0-9a-f]{64}$/);
      await warmPod();
      const next = await c.call(client, 'run_js', { code: 'count + 1', heap });
      const resumed = await c.waitPhase(tenant, next.execution_id as string, FINAL_PHASES);
      expect(resumed.status?.phase, JSON.stringify(resumed.status)).toBe('Succeeded');
      expect(resumed.status?.result).toBe('42');
      expect(resumed.status?.runner?.pod).not.toBe(ran.status?.runner?.pod);
    } finally {
      await client.close();
    }
  });

  it('end a wasm memory bomb failed/OutOfMemory when the kernel kills the pod (OOMKilled), and refill the pool', async () => {
    const pod = await warmPod();
    const limitMib = bytesOf(String(pod.spec!.containers[0]!.resources!.limits!.memory!)) / 2 ** 20;
    // One memory.fill over memory the module keeps to itself: outside the isolate's heap cap
    // and the sandbox's count of wasm memory, and no interrupt stops it part-way.
    const name = await c.applyExecution(tenant, {
      code: `${wasmExportsSource(ONE_FILL_WASM)}.bomb(${(limitMib + 64) * 16});
             'survived'`,
      limits: { timeoutSeconds: 60 },
    });
    // The pod's last status, as the kubelet reported it, until the controller deletes the pod.
    let terminated: { reason?: string; exitCode?: number } | undefined;
    const done = await (async () => {
      for (;;) {
        const got = await c.getExecution(tenant, name);
        const podName = got?.status?.runner?.pod;
        if (podName && !terminated) {
          const p = await kubeApi<V1Pod>(
            kube,
            'GET',
            `/api/v1/namespaces/${cluster.namespace}/pods/${podName}`,
          );
          terminated =
            p.status === 200 ? p.body.status?.containerStatuses?.[0]?.state?.terminated : undefined;
        }
        if (FINAL_PHASES.includes(got?.status?.phase ?? '')) return got!;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    expect(done.status?.phase, JSON.stringify(done.status)).toBe('Failed');
    expect(done.status?.error?.reason, JSON.stringify(done.status)).toBe('OutOfMemory');
    expect(done.status?.error?.message).toContain(String(pod.spec!.containers[0]!.resources!.limits!.memory));
    expect(terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    const refilled = await warmPod();
    expect(refilled.metadata?.name).not.toBe(pod.metadata?.name);
  });

  it('stop a cell filling memory step by step at the runner guard (its cgroup charge), before the kernel would', async () => {
    await warmPod();
    const name = await c.applyExecution(tenant, {
      code: `const step = ${wasmExportsSource(STEP_GROW_WASM)}.step; for (;;) step(16);`,
      limits: { timeoutSeconds: 60 },
    });
    let terminated: { reason?: string } | undefined;
    const done = await (async () => {
      for (;;) {
        const got = await c.getExecution(tenant, name);
        const podName = got?.status?.runner?.pod;
        if (podName) {
          const p = await kubeApi<V1Pod>(
            kube,
            'GET',
            `/api/v1/namespaces/${cluster.namespace}/pods/${podName}`,
          );
          terminated =
            p.status === 200
              ? (p.body.status?.containerStatuses?.[0]?.state?.terminated ?? terminated)
              : terminated;
        }
        if (FINAL_PHASES.includes(got?.status?.phase ?? '')) return got!;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    expect(done.status?.phase, JSON.stringify(done.status)).toBe('Failed');
    expect(done.status?.error?.reason).toBe('OutOfMemory');
    // The runner's own words (the controller's, for a kernel kill, name the pod's limit).
    expect(done.status?.error?.message).toBe('the execution exceeded its memory limit');
    expect(terminated?.reason).not.toBe('OOMKilled');
    await warmPod();
  });

  it('fail an execution whose runner pod is deleted with RunnerLost, and refill the pool', async () => {
    const name = await c.applyExecution(tenant, { code: 'while (true) {}', limits: { timeoutSeconds: 120 } });
    const running = await c.waitPhase(tenant, name, ['Running']);
    const pod = running.status!.runner!.pod!;
    const del = await kubeApi(
      kube,
      'DELETE',
      `/api/v1/namespaces/${cluster.namespace}/pods/${pod}?gracePeriodSeconds=0`,
    );
    expect(del.status).toBeLessThan(300);
    const lost = await c.waitPhase(tenant, name, FINAL_PHASES);
    expect(lost.status?.phase).toBe('Failed');
    expect(lost.status?.error?.reason).toBe('RunnerLost');
    const refilled = await warmPod();
    expect(refilled.metadata?.name).not.toBe(pod);
  });

  it('throttle a CPU-bound cell under a fractional CPU limit (the kernel counts it)', async () => {
    const pool = `/apis/mcpv8.dev/v1alpha1/namespaces/${cluster.namespace}/runnerpools/default`;
    const patched = await kubeApi(kube, 'PATCH', pool, {
      body: { spec: { template: { resources: { limits: { cpu: '300m' } } } } },
      contentType: 'application/merge-patch+json',
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    // The warm pod predates the change: one execution uses it up, and its replacement has 300m.
    const cycle = await c.applyExecution(tenant, { code: '1' });
    await c.waitPhase(tenant, cycle, FINAL_PHASES);
    let pod = await warmPod();
    await waitFor(
      async () => String((pod = await warmPod()).spec?.containers[0]?.resources?.limits?.cpu) === '300m',
      120_000,
      'a warm pod with the 300m limit',
    );
    expect((await inPod(pod, ['cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us'])).trim()).toBe('30000');
    expect((await inPod(pod, ['cat', '/sys/fs/cgroup/cpu/cpu.cfs_period_us'])).trim()).toBe('100000');
    const name = await c.applyExecution(tenant, {
      code: 'const end = Date.now() + 60_000; while (Date.now() < end) {}',
      limits: { timeoutSeconds: 90 },
    });
    await c.waitPhase(tenant, name, ['Running']);
    const stat = async () =>
      Object.fromEntries(
        (await inPod(pod, ['cat', '/sys/fs/cgroup/cpu/cpu.stat']))
          .trim()
          .split('\n')
          .map((l) => l.split(' '))
          .map(([k, v]) => [k, Number(v)]),
      ) as Record<string, number>;
    let last: Record<string, number> = {};
    await waitFor(async () => ((last = await stat()).nr_throttled ?? 0) >= 10, 60_000, 'throttled periods');
    expect(last.throttled_time).toBeGreaterThan(0);
    await kubeApi(kube, 'PATCH', EXEC(tenant, name), {
      body: { spec: { cancelRequested: true } },
      contentType: 'application/merge-patch+json',
    });
    expect((await c.waitPhase(tenant, name, FINAL_PHASES)).status?.phase).toBe('Cancelled');
  });
});
