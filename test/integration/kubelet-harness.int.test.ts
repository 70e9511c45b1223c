// The fake kubelet of the test harness against the real kube-apiserver: it binds and runs the
// pods that match its selector as local processes with a kubelet's env resolution, reports
// Running/Ready and terminal statuses with exit codes, finishes graceful deletions (SIGTERM,
// then SIGKILL after the capped grace period) and leaves no process behind on stop().
import type { V1Pod } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeApi, type KubeReply } from '../harness/kube-api.ts';
import { FakeKubelet, HARNESS_NODE, KUBELET_POD_MARKER } from '../harness/kubelet.ts';
import { isGroupAlive } from '../harness/service-process.ts';

const kube = inject('services').kube!;
const ns = `kubelet-${randomBytes(3).toString('hex')}`;
const SCRIPT = 'mcpv8.test/script';
const api = (method: string, path: string, body?: unknown) => kubeApi<V1Pod>(kube, method, path, { body });

/** Prints its env as one JSON line, says when SIGTERM comes (then exits 0), else sleeps. */
const SERVE = `console.log('ENV ' + JSON.stringify(process.env));
process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });
setInterval(() => {}, 1000);`;
const IGNORE_TERM = `process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
console.log('ENV ' + JSON.stringify(process.env));
setInterval(() => {}, 1000);`;

let kubelet: FakeKubelet;

async function createPod(name: string, script: string, extra: Partial<V1Pod['spec']> = {}, labelled = true) {
  const res = await api('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: labelled ? { app: 'kubelet-test' } : {}, annotations: { [SCRIPT]: script } },
    spec: {
      automountServiceAccountToken: false,
      restartPolicy: 'Never',
      containers: [{ name: 'main', image: 'example.invalid/runner:test', args: ['runner'] }],
      ...extra,
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function waitPod(name: string, ok: (r: KubeReply<V1Pod>) => boolean, what: string): Promise<V1Pod> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await api('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
    if (ok(res)) return res.body;
    if (Date.now() > deadline) {
      throw new Error(
        `pod ${name}: no ${what} after 20 s: ${JSON.stringify(res.body.status)}\n${kubelet.logOf(name)}`,
      );
    }
    await sleep(100);
  }
}

const phaseIs = (phase: string) => (r: KubeReply<V1Pod>) =>
  r.status === 200 && r.body.status?.phase === phase;
const isGone = (r: KubeReply<V1Pod>) => r.status === 404;
const terminated = (pod: V1Pod) => pod.status?.containerStatuses?.[0]?.state?.terminated;
const ready = (pod: V1Pod) => pod.status?.conditions?.find((c) => c.type === 'Ready')?.status;

async function waitLog(name: string, text: string): Promise<string> {
  for (let i = 0; i < 200 && !kubelet.logOf(name).includes(text); i++) await sleep(50);
  return kubelet.logOf(name);
}

describe('FakeKubelet (test harness)', () => {
  beforeAll(async () => {
    expect((await api('POST', '/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201);
    // Pod admission needs the namespace's default ServiceAccount, which a controller creates.
    for (let i = 0; i < 100; i++) {
      if ((await api('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200) break;
      await sleep(100);
    }
    const secret = await kubeApi(kube, 'POST', `/api/v1/namespaces/${ns}/secrets`, {
      body: { metadata: { name: 'conn' }, stringData: { token: 's3cr3t' } },
    });
    expect(secret.status).toBe(201);
    kubelet = await FakeKubelet.start({
      kube,
      namespace: ns,
      labelSelector: 'app=kubelet-test',
      maxGraceMs: 1500,
      commandFor: (pod) => ({ command: process.execPath, args: ['-e', pod.metadata!.annotations![SCRIPT]!] }),
    });
  });

  afterAll(async () => {
    await kubelet?.stop();
    // Nothing finishes graceful pod deletions once the kubelet is gone: remove them at once.
    await api('DELETE', `/api/v1/namespaces/${ns}/pods?gracePeriodSeconds=0`);
    await api('DELETE', `/api/v1/namespaces/${ns}`);
  });

  it('runs a pod: bound, Running and Ready, with the env resolved and nothing else leaked', async () => {
    await createPod('env-pod', SERVE, {
      serviceAccountName: 'default',
      containers: [
        {
          name: 'main',
          image: 'example.invalid/runner:test',
          env: [
            { name: 'PLAIN', value: 'hello' },
            { name: 'EXPANDED', value: '$(PLAIN)-world' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
            { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'conn', key: 'token' } } },
          ],
        },
      ],
    });
    const pod = await waitPod('env-pod', phaseIs('Running'), 'Running');
    expect(pod.spec?.nodeName).toBe(HARNESS_NODE);
    expect(pod.status?.podIP).toBe('127.0.0.1');
    expect(pod.status?.startTime).toBeTruthy();
    expect(ready(pod)).toBe('True');
    expect(pod.status?.containerStatuses?.[0]?.state?.running?.startedAt).toBeTruthy();
    expect(pod.status?.containerStatuses?.[0]?.ready).toBe(true);
    expect(kubelet.running()).toContain('env-pod');
    // Binding needs a Node object: without one the pod GC controller would delete the pod.
    expect((await api('GET', `/api/v1/nodes/${HARNESS_NODE}`)).status).toBe(200);

    const line = /^ENV (.+)$/m.exec(await waitLog('env-pod', 'ENV '))?.[1];
    const env = JSON.parse(line!) as Record<string, string>;
    expect(env).toMatchObject({
      PLAIN: 'hello',
      EXPANDED: 'hello-world',
      POD_NAME: 'env-pod',
      POD_NAMESPACE: ns,
      POD_IP: '127.0.0.1',
      NODE: HARNESS_NODE,
      SA: 'default',
      TOKEN: 's3cr3t',
      MCPV8_TEST_SERVICE: KUBELET_POD_MARKER,
    });
    const allowed = ['PATH', 'HOME', 'MCPV8_TEST_SERVICE', 'PLAIN', 'EXPANDED', 'POD_NAME', 'POD_NAMESPACE'];
    allowed.push('POD_IP', 'NODE', 'SA', 'TOKEN');
    expect(Object.keys(env).filter((k) => !allowed.includes(k))).toEqual([]);
  });

  it('leaves pods outside its selector alone', async () => {
    await createPod('other-pod', SERVE, {}, false);
    await sleep(1000);
    const pod = await waitPod('other-pod', (r) => r.status === 200, 'pod');
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.status?.phase).toBe('Pending');
    expect(kubelet.running()).not.toContain('other-pod');
  });

  it('finishes a graceful deletion: SIGTERM, process ends, pod disappears', async () => {
    await createPod('graceful', SERVE);
    await waitPod('graceful', phaseIs('Running'), 'Running');
    const pid = kubelet.pidOf('graceful')!;
    // Its SIGTERM handler is in place once it printed.
    await waitLog('graceful', 'ENV ');
    expect((await api('DELETE', `/api/v1/namespaces/${ns}/pods/graceful`)).status).toBe(200);
    await waitPod('graceful', isGone, 'deletion');
    expect(isGroupAlive(pid)).toBe(false);
    expect(kubelet.logOf('graceful')).toContain('got SIGTERM');
    expect(kubelet.running()).not.toContain('graceful');
  });

  it('SIGKILLs a process that ignores SIGTERM once the (capped) grace period is over', async () => {
    await createPod('stubborn', IGNORE_TERM, { terminationGracePeriodSeconds: 60 });
    await waitPod('stubborn', phaseIs('Running'), 'Running');
    const pid = kubelet.pidOf('stubborn')!;
    await waitLog('stubborn', 'ENV ');
    const started = Date.now();
    expect((await api('DELETE', `/api/v1/namespaces/${ns}/pods/stubborn`)).status).toBe(200);
    await waitPod('stubborn', isGone, 'deletion');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(isGroupAlive(pid)).toBe(false);
    expect(await waitLog('stubborn', 'ignoring SIGTERM')).toContain('ignoring SIGTERM');
  });

  it('kills the process of a pod deleted at once (grace period 0)', async () => {
    await createPod('forced', SERVE);
    await waitPod('forced', phaseIs('Running'), 'Running');
    const pid = kubelet.pidOf('forced')!;
    expect((await api('DELETE', `/api/v1/namespaces/${ns}/pods/forced?gracePeriodSeconds=0`)).status).toBe(
      200,
    );
    for (let i = 0; i < 100 && isGroupAlive(pid); i++) await sleep(50);
    expect(isGroupAlive(pid)).toBe(false);
    expect(kubelet.running()).not.toContain('forced');
  });

  it('reports a process that exits by itself: Succeeded on 0, Failed with the exit code otherwise', async () => {
    await createPod('exit-zero', `console.log('done')`);
    await createPod('exit-three', `process.exit(3)`);
    const ok = await waitPod('exit-zero', phaseIs('Succeeded'), 'Succeeded');
    expect(terminated(ok)?.exitCode).toBe(0);
    expect(terminated(ok)?.reason).toBe('Completed');
    expect(ready(ok)).toBe('False');
    const failed = await waitPod('exit-three', phaseIs('Failed'), 'Failed');
    expect(terminated(failed)?.exitCode).toBe(3);
    expect(ready(failed)).toBe('False');
    expect(kubelet.logOf('exit-zero')).toContain('done');
  });

  it('kill() crashes the process: the pod stays, Failed with exit code 137', async () => {
    await createPod('crash', SERVE);
    await waitPod('crash', phaseIs('Running'), 'Running');
    expect(kubelet.kill('crash')).toBe(true);
    const pod = await waitPod('crash', phaseIs('Failed'), 'Failed');
    expect(terminated(pod)?.exitCode).toBe(137);
    expect(kubelet.running()).not.toContain('crash');
    expect(kubelet.kill('crash')).toBe(false);
  });

  it('does not start a pod whose secret is missing (CreateContainerConfigError)', async () => {
    await createPod('no-secret', SERVE, {
      containers: [
        {
          name: 'main',
          image: 'example.invalid/runner:test',
          env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'missing', key: 'k' } } }],
        },
      ],
    });
    const pod = await waitPod(
      'no-secret',
      (r) => r.body.status?.containerStatuses?.[0]?.state?.waiting !== undefined,
      'waiting status',
    );
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('CreateContainerConfigError');
    expect(kubelet.running()).not.toContain('no-secret');
  });

  it('stop() kills every process and leaves none behind', async () => {
    await createPod('left-1', IGNORE_TERM);
    await createPod('left-2', SERVE);
    await waitPod('left-1', phaseIs('Running'), 'Running');
    await waitPod('left-2', phaseIs('Running'), 'Running');
    const pids = ['env-pod', 'left-1', 'left-2'].map((n) => kubelet.pidOf(n)!);
    expect(pids.every((pid) => isGroupAlive(pid))).toBe(true);
    await kubelet.stop();
    expect(pids.filter((pid) => isGroupAlive(pid))).toEqual([]);
    expect(kubelet.problems).toEqual([]);
  });
});
