// The RunnerPool controller against a real kube-apiserver with the real Controller/Informer
// runtime: a pool gets exactly `replicas` pods (no kubelet here, so they stay Pending) and keeps
// that count through resyncs, deletions, retirement and scaling via /scale; its status follows the
// pods and the readyRunners hook; its pods pass PodSecurity "restricted"; and deleting the pool
// lets the garbage collector (kube-controller-manager) remove its pods.
import type { KubeConfig } from '@kubernetes/client-node';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { crdPath } from '../../scripts/generate-crds.ts';
import { endedRunnerStatus } from '../harness/pod-status.ts';
import {
  API_VERSION,
  CRDS,
  GROUP,
  RUNNER_POOL_PLURAL,
  VERSION,
  type RunnerPool,
} from '../../src/api/v1alpha1/index.ts';
import { EventRecorder, REPORTING_CONTROLLER } from '../../src/controller/events/event-recorder.ts';
import {
  RUNNER_POOL_LABEL,
  RunnerPoolReconciler,
  TEMPLATE_HASH_LABEL,
  buildRunnerPod,
  poolKeyOfPod,
  type RunnerPodSettings,
} from '../../src/controller/runner-pool/index.ts';
import {
  Controller,
  Informer,
  Manager,
  customResourceSource,
  enqueueHandler,
  podSource,
} from '../../src/controller/runtime/index.ts';
import { applyCrdYaml, kubeApi, type KubeRequestOptions } from '../harness/kube-api.ts';
import { tokenKubeConfig } from '../harness/kube-config.ts';

const kube = inject('services').kube!;
const root = fileURLToPath(new URL('../../', import.meta.url));
const ns = `rp-ctrl-${randomBytes(3).toString('hex')}`;
const POOL = 'warm';
const KEY = `${ns}/${POOL}`;
const poolPath = `/apis/${API_VERSION}/namespaces/${ns}/${RUNNER_POOL_PLURAL}`;
const SA = 'mcp-v8-runner';

const settings: RunnerPodSettings = {
  image: 'registry.example/mcp-v8-runner:test',
  serviceAccount: SA,
  podLabels: { 'app.kubernetes.io/name': 'mcp-v8', 'app.kubernetes.io/component': 'runner' },
  podEnv: [
    { name: 'MCP_V8_NATS_URL', value: 'nats://nats:4222' },
    { name: 'MCP_V8_NATS_TOKEN', valueFrom: { secretKeyRef: { name: 'nats', key: 'token' } } },
  ],
};

const api = <T = Record<string, unknown>>(method: string, path: string, opts: KubeRequestOptions = {}) =>
  kubeApi<T>(kube, method, path, opts);

let kc: KubeConfig;
let core: CoreV1Api;
const stop = new AbortController();
let running: Promise<void> | undefined;
let controller: Controller;
let recorder: EventRecorder;
const ready = new Map<string, number>();
const retired = new Set<string>();
const members = new Map<string, string[]>();

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The pool's pods as the API server has them (not the cache), terminating ones included. */
async function podsOfPool(): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `${RUNNER_POOL_LABEL}=${POOL}` });
  return list.items;
}

const names = (pods: V1Pod[]) => pods.map((p) => p.metadata!.name!).sort();

async function getPool(): Promise<RunnerPool> {
  const res = await api<RunnerPool>('GET', `${poolPath}/${POOL}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** Waits for exactly `n` pods, then checks there are still exactly `n` after several resyncs. */
async function expectSteadyPods(n: number): Promise<V1Pod[]> {
  await waitFor(`${n} pods`, async () => (await podsOfPool()).length === n);
  await sleep(3500);
  const pods = await podsOfPool();
  expect(pods).toHaveLength(n);
  return pods;
}

beforeAll(async () => {
  kc = tokenKubeConfig(kube);
  core = kc.makeApiClient(CoreV1Api);
  for (const crd of CRDS) {
    const res = await applyCrdYaml(kube, crd.metadata.name, readFileSync(join(root, crdPath(crd)), 'utf8'));
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
  await core.createNamespace({
    body: {
      metadata: {
        name: ns,
        labels: {
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
        },
      },
    },
  });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: SA } } });
  await waitFor('runnerpools served', async () => (await api('GET', poolPath)).status === 200);

  const pods = new Informer<V1Pod>({
    kubeConfig: kc,
    source: podSource(kc, { namespace: ns, labelSelector: RUNNER_POOL_LABEL }),
    resyncMs: 1000,
  });
  const pools = new Informer<RunnerPool>({
    kubeConfig: kc,
    source: customResourceSource<RunnerPool>(kc, {
      group: GROUP,
      version: VERSION,
      plural: RUNNER_POOL_PLURAL,
      namespace: ns,
    }),
    resyncMs: 1000,
  });
  recorder = new EventRecorder({ kubeConfig: kc, instance: 'it-controller-0' });
  const reconciler = new RunnerPoolReconciler({
    kubeConfig: kc,
    pods,
    pools,
    settings,
    hooks: {
      readyRunners: (key) => ready.get(key) ?? 0,
      retiredFor: (name) => (retired.has(name) ? 'used-up' : undefined),
      onMembers: (key, podNames) => members.set(key, podNames),
    },
    events: recorder,
    notReadyPollMs: 500,
  });
  controller = new Controller({ name: 'runnerpool', reconciler, concurrency: 2 });
  pools.addEventHandler(enqueueHandler(controller));
  pods.addEventHandler(enqueueHandler(controller, poolKeyOfPod));
  const manager = new Manager({ informers: [pods, pools], controllers: [controller] });
  running = manager.start(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await recorder?.close();
  await core?.deleteNamespace({ name: ns });
});

/** Whether a Warning event with `reason` was recorded about the pool `poolName` (after a flush). */
async function hasWarning(poolName: string, reason: string): Promise<boolean> {
  await recorder.flush();
  const events = await api<{ items: { reason: string; type: string; regarding: { name: string } }[] }>(
    'GET',
    `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
  );
  return events.body.items.some(
    (e) => e.regarding.name === poolName && e.reason === reason && e.type === 'Warning',
  );
}

describe('RunnerPool controller', () => {
  it('keeps exactly replicas pods, built right and admitted under PodSecurity restricted', async () => {
    const created = await api('POST', poolPath, {
      body: { apiVersion: API_VERSION, kind: 'RunnerPool', metadata: { name: POOL }, spec: { replicas: 3 } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const pods = await expectSteadyPods(3);
    const pool = await getPool();
    for (const pod of pods) {
      expect(pod.metadata!.name).toMatch(new RegExp(`^${POOL}-[a-z0-9]{5}$`));
      expect(pod.metadata!.labels).toMatchObject({ [RUNNER_POOL_LABEL]: POOL, ...settings.podLabels });
      expect(pod.metadata!.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'RunnerPool',
          name: POOL,
          uid: pool.metadata!.uid,
          controller: true,
        }),
      ]);
      expect(pod.status?.phase).toBe('Pending');
      expect(pod.spec!.automountServiceAccountToken).toBe(false);
    }
    expect([...(members.get(KEY) ?? [])].sort()).toEqual(names(pods));
  });

  it('has the restricted profile enforced in its namespace (a privileged variant is refused)', async () => {
    const pod = buildRunnerPod(await getPool(), settings);
    pod.spec!.containers[0]!.securityContext!.allowPrivilegeEscalation = true;
    pod.metadata!.labels = { other: 'x' };
    await expect(core.createNamespacedPod({ namespace: ns, body: pod })).rejects.toMatchObject({ code: 403 });
  });

  it('writes status: replicas, selector, Ready and readyReplicas from the readyRunners hook', async () => {
    await waitFor('status replicas 3', async () => (await getPool()).status?.replicas === 3);
    let status = (await getPool()).status!;
    expect(status.selector).toBe(`${RUNNER_POOL_LABEL}=${POOL}`);
    expect(status.readyReplicas).toBe(0);
    expect(status.observedGeneration).toBe(1);
    expect(status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'False' })]);

    ready.set(KEY, 2);
    controller.enqueue(KEY);
    await waitFor('readyReplicas 2', async () => (await getPool()).status?.readyReplicas === 2);
    ready.set(KEY, 7);
    controller.enqueue(KEY);
    await waitFor(
      'Ready',
      async () =>
        (await getPool()).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
    );
    status = (await getPool()).status!;
    expect(status.readyReplicas).toBe(3);
    const scale = await api<{ status: { replicas: number; selector: string } }>(
      'GET',
      `${poolPath}/${POOL}/scale`,
    );
    expect(scale.body.status).toEqual({ replicas: 3, selector: `${RUNNER_POOL_LABEL}=${POOL}` });
  });

  it('replaces a deleted pod and stays at replicas', async () => {
    const [victim] = names(await podsOfPool());
    await core.deleteNamespacedPod({ namespace: ns, name: victim! });
    await waitFor('replacement', async () => {
      const now = names(await podsOfPool());
      return now.length === 3 && !now.includes(victim!);
    });
    await expectSteadyPods(3);
  });

  it('deletes a retired pod and replaces it', async () => {
    const [used] = names(await podsOfPool());
    retired.add(used!);
    controller.enqueue(KEY);
    await waitFor('retired pod replaced', async () => {
      const now = names(await podsOfPool());
      return now.length === 3 && !now.includes(used!);
    });
    await expectSteadyPods(3);
  });

  it('scales down through /scale, deleting the surplus', async () => {
    const res = await api('PATCH', `${poolPath}/${POOL}/scale`, {
      body: { spec: { replicas: 1 } },
      contentType: 'application/merge-patch+json',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await expectSteadyPods(1);
    await waitFor('status replicas 1', async () => (await getPool()).status?.replicas === 1);
    expect(members.get(KEY)).toHaveLength(1);
  });

  it('replaces its idle warm pods with ones from the new template when the template changes', async () => {
    const old = await podsOfPool();
    const oldHash = old[0]!.metadata!.labels![TEMPLATE_HASH_LABEL];
    expect(oldHash).toMatch(/^[0-9a-f]{10}$/);
    const image = 'registry.example/mcp-v8-runner:next';
    const res = await api('PATCH', `${poolPath}/${POOL}`, {
      body: { spec: { template: { image } } },
      contentType: 'application/merge-patch+json',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await waitFor('pods from the new template', async () => {
      const pods = await podsOfPool();
      return (
        pods.length === old.length &&
        pods.every((p) => p.spec!.containers[0]!.image === image && !names(old).includes(p.metadata!.name!))
      );
    });
    const pods = await expectSteadyPods(old.length);
    const hashes = new Set(pods.map((p) => p.metadata!.labels![TEMPLATE_HASH_LABEL]));
    expect(hashes.size).toBe(1);
    expect(hashes.has(oldHash)).toBe(false);
  });

  it('replaces a pod whose runner was OOMKilled, with a warning naming its memory limit', async () => {
    const [victim] = await podsOfPool();
    const name = victim!.metadata!.name!;
    // No kubelet here: report what one reports when the kernel kills the runner at its limit.
    const patched = await api('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
      body: { status: endedRunnerStatus(settings.image, 'OOMKilled', 137) },
      contentType: 'application/merge-patch+json',
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await waitFor('OOMKilled pod replaced', async () => {
      const now = names(await podsOfPool());
      return now.length === 1 && !now.includes(name);
    });
    await recorder.flush();
    const limit = victim!.spec!.containers[0]!.resources!.limits!.memory;
    await waitFor('the PodOOMKilled event', async () => {
      const res = await api<{ items: { reason: string; type: string; note: string }[] }>(
        'GET',
        `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
      );
      return res.body.items.some(
        (e) =>
          e.reason === 'PodOOMKilled' &&
          e.type === 'Warning' &&
          e.note === `the runner pod ${name} was killed for exceeding its memory limit of ${limit}`,
      );
    });
  });

  it('refuses at admission a template memory limit below the isolate floor, or a CPU limit below 100m', async () => {
    const pool = (resources: Record<string, unknown>, executionsPerPod = 1) =>
      api<{ message: string }>('POST', poolPath, {
        body: {
          apiVersion: API_VERSION,
          kind: 'RunnerPool',
          metadata: { name: 'tight' },
          spec: { executionsPerPod, template: { resources } },
        },
      });
    const memory = await pool({ limits: { memory: '150Mi' } });
    expect(memory.status).toBe(422);
    expect(memory.body.message).toContain(
      'template.resources.limits.memory must be at least isolate.maxHeapMb × isolates per pod (1, or 3 when executionsPerPod > 1) + 128Mi',
    );
    // Pooled pods keep two live heaps: 64 × 3 + 128.
    const pooled = await pool({ limits: { memory: '256Mi' } }, 5);
    expect(pooled.status).toBe(422);
    expect(pooled.body.message).toContain('limits.memory must be at least');
    expect((await pool({ limits: { memory: '384Mi' } }, 5)).status).toBe(201);
    expect((await api('DELETE', `${poolPath}/tight`)).status).toBeLessThan(300);
    for (const cpu of [0, '0', '10m']) {
      const res = await pool({ limits: { cpu } });
      expect(res.status, String(cpu)).toBe(422);
      expect(res.body.message).toContain('template.resources.limits.cpu must be at least 100m');
    }
    // At the floors, in any quantity form, the pool is admitted.
    const ok = await pool({ limits: { memory: 256 * 2 ** 20, cpu: '0.1' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect((await api('DELETE', `${poolPath}/tight`)).status).toBeLessThan(300);
  });

  it('creates no pods for a template the controller refuses: Ready False with the reason, and a warning', async () => {
    const created = await api('POST', poolPath, {
      body: {
        apiVersion: API_VERSION,
        kind: 'RunnerPool',
        metadata: { name: 'small-disk' },
        spec: { replicas: 2, template: { resources: { limits: { 'ephemeral-storage': '16Mi' } } } },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    let ready: { reason?: string; status?: string; message?: string } | undefined;
    await waitFor('Ready False EphemeralStorageBelowFloor', async () => {
      const res = await api<RunnerPool>('GET', `${poolPath}/small-disk`);
      ready = res.body.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.reason === 'EphemeralStorageBelowFloor';
    });
    expect(ready).toMatchObject({ status: 'False' });
    expect(ready?.message).toContain('16Mi is below the 128Mi the runner needs');
    expect(await hasWarning('small-disk', 'EphemeralStorageBelowFloor')).toBe(true);
    const pods = await core.listNamespacedPod({
      namespace: ns,
      labelSelector: `${RUNNER_POOL_LABEL}=small-disk`,
    });
    expect(pods.items).toEqual([]);
    expect((await api('DELETE', `${poolPath}/small-disk`)).status).toBeLessThan(300);
  });

  it('backs off creating pods that keep exiting at start: Ready False PodsFailingToStart, and a warning', async () => {
    const POOL_NAME = 'crashy';
    const selector = `${RUNNER_POOL_LABEL}=${POOL_NAME}`;
    const created = await api('POST', poolPath, {
      body: {
        apiVersion: API_VERSION,
        kind: 'RunnerPool',
        metadata: { name: POOL_NAME },
        spec: { replicas: 1 },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const live = async () =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(
        (p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed',
      );
    // Twice: its pod's runner exits 1 at start (what one that cannot reach NATS does).
    for (let round = 1; round <= 2; round++) {
      let pod: V1Pod | undefined;
      await waitFor(`pod of round ${round}`, async () => (pod = (await live())[0]) !== undefined);
      const patched = await api('PATCH', `/api/v1/namespaces/${ns}/pods/${pod!.metadata!.name!}/status`, {
        body: { status: endedRunnerStatus(settings.image, 'Error', 1) },
        contentType: 'application/merge-patch+json',
      });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      await waitFor(`pod of round ${round} gone`, async () =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.every(
          (p) => p.metadata!.name !== pod!.metadata!.name,
        ),
      );
    }
    await waitFor('Ready False PodsFailingToStart', async () => {
      const res = await api<RunnerPool>('GET', `${poolPath}/${POOL_NAME}`);
      const ready = res.body.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.reason === 'PodsFailingToStart' && ready.status === 'False';
    });
    expect(await hasWarning(POOL_NAME, 'PodsFailingToStart')).toBe(true);
    // The wait is over after a second: the pool gets its pod again.
    await waitFor('a pod after the backoff', async () => (await live()).length === 1);
    expect((await api('DELETE', `${poolPath}/${POOL_NAME}`)).status).toBeLessThan(300);
  });

  it('records events about the pool', async () => {
    await recorder.flush();
    const res = await api<{
      items: { reason: string; reportingController: string; regarding: { name: string } }[];
    }>('GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`);
    const reasons = res.body.items.filter((e) => e.regarding.name === POOL).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['PodCreated', 'PodRetired', 'PodDeleted']));
    expect(res.body.items.every((e) => e.reportingController === REPORTING_CONTROLLER)).toBe(true);
  });

  it('lets the garbage collector remove the pods with their pool', async () => {
    const res = await api('DELETE', `${poolPath}/${POOL}`);
    expect(res.status).toBeLessThan(300);
    await waitFor('pods garbage-collected', async () => (await podsOfPool()).length === 0, 90_000);
    await waitFor('members cleared', () => members.get(KEY)?.length === 0);
  });
});
