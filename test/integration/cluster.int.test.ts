// Cluster mode end to end on the harness: the chart's RBAC and settings, two controller
// replicas (Lease), the gateway, runner pods run by a fake kubelet as local `mcp-v8 runner`
// processes, real NATS JetStream, S3 (versitygw) and kube-apiserver. Every process acts with
// its ServiceAccount's token, never as admin; the test reads and writes as admin (kubectl).
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import type { Execution } from '../../src/api/v1alpha1/index.ts';
import { startClusterDeployment, waitFor, type ClusterDeployment } from '../harness/cluster-deployment.ts';
import { clusterClient, EXEC, FINAL_PHASES } from '../harness/cluster-client.ts';
import { kubeApi } from '../harness/kube-api.ts';
import { HARNESS_NODE } from '../harness/kubelet.ts';
import { onePerPod, type Submitted } from '../harness/one-per-pod.ts';
import { PodClaimsWatch } from '../harness/pod-claims-watch.ts';
import { s3TestClient } from '../harness/s3-client.ts';

const services = inject('services');
const kube = services.kube!;
let cluster: ClusterDeployment;

beforeAll(async () => {
  cluster = await startClusterDeployment({ services, replicas: 2 });
}, 240_000);

afterAll(async () => {
  await cluster?.close();
}, 60_000);

const client = clusterClient(kube, () => cluster.gatewayUrl);
const { applyExecution, getExecution, waitPhase, mcpClient, call } = client;
const runnerPods = () => client.runnerPods(cluster.namespace);
const { submit, submitEnded, expectOnePerPod } = onePerPod(kube, client);

/** A runner pod that announced it has admitted nothing yet (and is not one of `busy`). */
async function idlePod(watch: PodClaimsWatch, busy: ReadonlySet<string> = new Set()): Promise<string> {
  let idle: string | undefined;
  await waitFor(
    async () => {
      idle = (await runnerPods()).find(
        (p) => !p.deleting && !busy.has(p.name) && watch.admittedBy(p.name) === 0,
      )?.name;
      return idle !== undefined;
    },
    30_000,
    'an idle pod',
  );
  return idle!;
}

describe('cluster mode', () => {
  it('runs a kubectl-applied Execution to Succeeded, with phase and reason in the printer columns', async () => {
    const [tenant] = cluster.tenants;
    const name = await applyExecution(tenant!.namespace, { code: '6 * 7' });
    const done = await waitPhase(tenant!.namespace, name, ['Succeeded', 'Failed', 'TimedOut', 'Cancelled']);
    expect(done.status?.phase).toBe('Succeeded');
    expect(done.status?.result).toBe('42');
    expect(done.status?.runner?.pod).toMatch(/^default-/);
    expect(done.status?.runner?.node).toBe(HARNESS_NODE);
    expect(done.status?.output).toMatchObject({
      stream: 'MCPV8_OUTPUT',
      subject: `exec.${tenant!.namespace}.${name}.out`,
    });
    const table = await kubeApi<{
      columnDefinitions: Array<{ name: string }>;
      rows: Array<{ cells: unknown[] }>;
    }>(kube, 'GET', EXEC(tenant!.namespace, name), {
      accept: 'application/json;as=Table;g=meta.k8s.io;v=v1',
    });
    const columns = table.body.columnDefinitions.map((c) => c.name);
    const cells = table.body.rows[0]!.cells;
    expect(cells[columns.indexOf('Phase')]).toBe('Succeeded');
    expect(cells[columns.indexOf('Reason')]).toBe('Succeeded');
  }, 90_000);

  it('runs run_js through the gateway: Execution created, output while running, heap in S3, resumed on another pod', async () => {
    const [tenant] = cluster.tenants;
    const client = await mcpClient(tenant!.token);
    try {
      const started = await call(client, 'run_js', {
        code: 'var count = 41; for (let i = 0; i < 6; i++) { console.log("tick " + i); await new Promise((r) => setTimeout(r, 400)); } count',
      });
      const id = started.execution_id as string;
      expect(await getExecution(tenant!.namespace, id)).toBeDefined();
      // Output is readable while the execution is still running.
      let midRun: Record<string, unknown> | undefined;
      await waitFor(
        async () => {
          midRun = await call(client, 'get_execution_output', { execution_id: id });
          return typeof midRun.data === 'string' && midRun.data.includes('tick 1');
        },
        30_000,
        'output while running',
      );
      expect(midRun!.status).toBe('running');
      const first = await waitPhase(tenant!.namespace, id, ['Succeeded', 'Failed']);
      expect(first.status?.phase, JSON.stringify(first.status)).toBe('Succeeded');
      const heap = first.status?.heap;
      expect(heap).toMatch(/^[0-9a-f]{64}$/);
      const objects = await s3TestClient(services.s3!).send(
        new ListObjectsV2Command({ Bucket: `heaps-${cluster.namespace.slice('mcpv8-cl-'.length)}` }),
      );
      expect(objects.Contents?.map((o) => o.Key)).toContain(`${tenant!.namespace}/${heap}.json`);

      const next = await call(client, 'run_js', { code: 'count + 1', heap });
      const second = await waitPhase(tenant!.namespace, next.execution_id as string, ['Succeeded', 'Failed']);
      expect(second.status?.phase, JSON.stringify(second.status)).toBe('Succeeded');
      expect(second.status?.result).toBe('42');
      // Per-execution pods: the resume ran on a fresh pod, replaying the heap from S3.
      expect(second.status?.runner?.pod).not.toBe(first.status?.runner?.pod);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('cancels through MCP and through kubectl patch, and times out', async () => {
    const [tenant] = cluster.tenants;
    const ns = tenant!.namespace;
    const client = await mcpClient(tenant!.token);
    try {
      const viaMcp = await call(client, 'run_js', { code: 'while (true) {}', execution_timeout_secs: 120 });
      await waitPhase(ns, viaMcp.execution_id as string, ['Running']);
      await call(client, 'cancel_execution', { execution_id: viaMcp.execution_id });
      expect(
        (await waitPhase(ns, viaMcp.execution_id as string, ['Cancelled', 'Failed'])).status?.phase,
      ).toBe('Cancelled');
    } finally {
      await client.close();
    }
    const viaKubectl = await applyExecution(ns, { code: 'while (true) {}', limits: { timeoutSeconds: 120 } });
    await waitPhase(ns, viaKubectl, ['Running']);
    const patched = await kubeApi(kube, 'PATCH', EXEC(ns, viaKubectl), {
      body: { spec: { cancelRequested: true } },
      contentType: 'application/merge-patch+json',
    });
    expect(patched.status).toBe(200);
    expect((await waitPhase(ns, viaKubectl, ['Cancelled', 'Failed'])).status?.phase).toBe('Cancelled');

    const slow = await applyExecution(ns, { code: 'while (true) {}', limits: { timeoutSeconds: 1 } });
    const timedOut = await waitPhase(ns, slow, ['TimedOut', 'Failed', 'Succeeded']);
    expect(timedOut.status?.phase).toBe('TimedOut');
    expect(timedOut.status?.error?.reason).toBe('Timeout');
  }, 180_000);

  it('fails an execution whose runner pod is deleted with RunnerLost within seconds, and refills the pool', async () => {
    const ns = cluster.tenants[0]!.namespace;
    const name = await applyExecution(ns, { code: 'while (true) {}', limits: { timeoutSeconds: 120 } });
    const running = await waitPhase(ns, name, ['Running']);
    const pod = running.status!.runner!.pod!;
    const deletedAt = Date.now();
    const del = await kubeApi(
      kube,
      'DELETE',
      `/api/v1/namespaces/${cluster.namespace}/pods/${pod}?gracePeriodSeconds=0`,
    );
    expect(del.status).toBeLessThan(300);
    const lost = await waitPhase(ns, name, ['Failed', 'Succeeded', 'Cancelled', 'TimedOut'], 20_000);
    expect(lost.status?.phase).toBe('Failed');
    expect(lost.status?.error?.reason).toBe('RunnerLost');
    expect(Date.now() - deletedAt).toBeLessThan(15_000);
    await waitFor(
      async () => (await runnerPods()).filter((p) => !p.deleting).length === 2,
      30_000,
      'the pool back at 2 pods',
    );
  }, 120_000);

  it('fails an execution whose runner pod is OOMKilled with OutOfMemory naming the pod limit, and refills the pool', async () => {
    const ns = cluster.tenants[0]!.namespace;
    const name = await applyExecution(ns, { code: 'while (true) {}', limits: { timeoutSeconds: 120 } });
    const running = await waitPhase(ns, name, ['Running']);
    const pod = running.status!.runner!.pod!;
    const spec = await kubeApi<V1Pod>(kube, 'GET', `/api/v1/namespaces/${cluster.namespace}/pods/${pod}`);
    const limit = spec.body.spec!.containers[0]!.resources!.limits!.memory;
    expect(limit).toMatch(/^\d+Mi$/);
    // The fake kubelet enforces no limit: it reports the kernel's OOM kill of the runner on demand.
    expect(cluster.kubelet!.oomKill(pod)).toBe(true);
    const failed = await waitPhase(ns, name, ['Failed', 'Succeeded', 'Cancelled', 'TimedOut'], 30_000);
    expect(failed.status?.phase).toBe('Failed');
    expect(failed.status?.error).toEqual({
      reason: 'OutOfMemory',
      message: `the runner pod ${pod} was killed for exceeding its memory limit of ${limit}`,
    });
    await waitFor(
      async () => {
        const pods = (await runnerPods()).filter((p) => !p.deleting);
        return pods.length === 2 && !pods.some((p) => p.name === pod);
      },
      30_000,
      'the pool refilled without the OOMKilled pod',
    );
    await waitFor(
      async () => {
        const events = await kubeApi<{
          items: Array<{ reason: string; type: string; regarding: { name: string } }>;
        }>(kube, 'GET', `/apis/events.k8s.io/v1/namespaces/${ns}/events`);
        return events.body.items.some(
          (e) => e.regarding.name === name && e.reason === 'OutOfMemory' && e.type === 'Warning',
        );
      },
      30_000,
      'the OutOfMemory event on the Execution',
    );
  }, 120_000);

  it('finishes every execution exactly once when the leading controller is killed', async () => {
    const ns = cluster.tenants[1]!.namespace;
    const leader = await cluster.leader();
    expect(leader).toBeDefined();
    const names = [];
    for (let i = 0; i < 3; i++) {
      names.push(
        await applyExecution(ns, {
          code: `console.log("ran ${i}"); await new Promise((r) => setTimeout(r, 2500)); ${i}`,
        }),
      );
    }
    await waitPhase(ns, names[0]!, ['Running']);
    cluster.controllers.get(leader!)!.kill('SIGKILL');
    // One more submitted while nobody leads.
    names.push(await applyExecution(ns, { code: 'console.log("ran 3"); 3' }));
    await waitFor(
      async () => {
        const now = await cluster.leader();
        return now !== undefined && now !== leader;
      },
      30_000,
      'another replica to take the Lease',
    );
    const client = await mcpClient(cluster.tenants[1]!.token);
    try {
      for (const [i, name] of names.entries()) {
        const done = await waitPhase(ns, name, ['Succeeded', 'Failed', 'Cancelled', 'TimedOut'], 90_000);
        expect(done.status?.phase, `${name}: ${JSON.stringify(done.status)}`).toBe('Succeeded');
        expect(done.status?.result).toBe(String(i));
        const out = await call(client, 'get_execution_output', { execution_id: name });
        // Run once: its one line is there exactly once.
        expect((out.data as string).split('\n').filter((l) => l === `ran ${i}`)).toHaveLength(1);
      }
    } finally {
      await client.close();
    }
  }, 180_000);

  it('sends an execution a dead leader assigned but never sent, exactly once', async () => {
    const ns = cluster.tenants[1]!.namespace;
    // What a controller leaves behind when it dies between the assignment and the send: the
    // status says Running on an idle pod that never received the run. No controller runs while
    // it is set up; then a new one takes the Lease.
    await waitFor(
      async () => (await runnerPods()).filter((p) => !p.deleting).length === 2,
      30_000,
      'warm pods',
    );
    for (const [, child] of cluster.controllers) child.kill('SIGKILL');
    await waitFor(() => cluster.controllers.size === 0, 10_000, 'controllers gone');
    const pod = (await runnerPods()).find((p) => !p.deleting)!.name;
    const name = `e${Date.now().toString(36)}orphan`;
    const created = await kubeApi<Execution>(kube, 'POST', EXEC(ns), {
      body: {
        apiVersion: 'mcpv8.dev/v1alpha1',
        kind: 'Execution',
        metadata: { name },
        spec: { code: 'console.log("orphan ran"); 7' },
      },
    });
    expect(created.status).toBe(201);
    const claimed = await kubeApi(kube, 'PATCH', `${EXEC(ns, name)}/status`, {
      body: { status: { phase: 'Running', runner: { pod }, startTime: new Date().toISOString() } },
      contentType: 'application/merge-patch+json',
    });
    expect(claimed.status).toBe(200);
    await cluster.startController(`controller-after-${Date.now().toString(36)}`);
    const done = await waitPhase(ns, name, ['Succeeded', 'Failed', 'TimedOut', 'Cancelled'], 60_000);
    expect(done.status?.phase, JSON.stringify(done.status)).toBe('Succeeded');
    expect(done.status?.result).toBe('7');
    expect(done.status?.runner?.pod).toBe(pod);
    const client = await mcpClient(cluster.tenants[1]!.token);
    try {
      const out = await call(client, 'get_execution_output', { execution_id: name });
      expect((out.data as string).split('\n').filter((l) => l === 'orphan ran')).toHaveLength(1);
    } finally {
      await client.close();
    }
  }, 90_000);

  it('runs at most one execution per pod when the leader is killed as per-execution pods finish', async () => {
    const ns = cluster.tenants[1]!.namespace;
    // A standby to take over.
    if (cluster.controllers.size < 2)
      await cluster.startController(`controller-standby-${Date.now().toString(36)}`);
    await waitFor(
      async () => (await runnerPods()).filter((p) => !p.deleting).length >= 2,
      30_000,
      'warm pods',
    );
    const watch = await PodClaimsWatch.start(services.nats!.url, kube, cluster.namespace);
    try {
      const leader = await cluster.leader();
      // One of the pool's two pods runs it; the other stays idle (nothing else is submitted).
      const runs = [await submit(ns, 'ending', 1500)];
      const busy = new Set([(await waitPhase(ns, runs[0]!.name, ['Running'])).status!.runner!.pod!]);
      const spent = await idlePod(watch, busy);
      // Killed as its pod finishes: the outcome is out, the pod not deleted yet.
      await watch.outcome(`${ns}/${runs[0]!.name}`);
      cluster.controllers.get(leader!)!.kill('SIGKILL');
      // While nobody leads (the Lease has seconds to run), what a leader leaves when it dies after
      // writing an execution's end and before deleting its pod, made for sure: the idle pod ran
      // one run, and its Execution ended.
      runs.push(await submitEnded(ns, spent, watch, 'ended before the failover'));

      // More submitted while nobody leads: enough that, if it did not know its claim, the next
      // leader would send one of them to the pod above.
      for (let i = 0; i < 3; i++) runs.push(await submit(ns, `after ${i}`));
      await waitFor(
        async () => {
          const now = await cluster.leader();
          return now !== undefined && now !== leader;
        },
        30_000,
        'another replica to take the Lease',
      );
      await expectOnePerPod(watch, cluster.tenants[1]!, runs);
      // The pod that ran its one execution was discarded, not given another.
      await waitFor(
        async () => !(await runnerPods()).some((p) => p.name === spent && !p.deleting),
        30_000,
        'the spent pod deleted',
      );
    } finally {
      await watch.close();
    }
  }, 240_000);

  it('runs at most one execution per pod through a rolling restart of both controllers', async () => {
    const ns = cluster.tenants[1]!.namespace;
    const stamp = Date.now().toString(36);
    while (cluster.controllers.size < 2)
      await cluster.startController(`controller-${stamp}-${cluster.controllers.size}`);
    const watch = await PodClaimsWatch.start(services.nats!.url, kube, cluster.namespace);
    try {
      const old = [...cluster.controllers.keys()];
      // New replicas first, then the old ones stop one at a time, each while executions run or
      // wait for pods (per-execution pods: more executions than pods).
      for (let i = 0; i < 2; i++) await cluster.startController(`controller-roll-${stamp}-${i}`);
      const runs: Submitted[] = [];
      /** Runs sent by hand, by the pod each was sent to. */
      const phantoms = new Map<string, string>();
      for (const [i, identity] of old.entries()) {
        const child = cluster.controllers.get(identity)!;
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        if ((await cluster.leader()) === identity) {
          // The leader stops as a pod has just run a run it sent — made for sure: sent by hand as
          // it stops, to a pod idle while nothing waits, with no Execution for the next leader to
          // adopt (only the pod's word says it is used) — and executions wait for the next one.
          for (const { name } of runs) await waitPhase(ns, name, ['Running', ...FINAL_PHASES]);
          const spent = await idlePod(watch);
          const phantom = { namespace: ns, name: `phantom-${stamp}-${i}` };
          child.kill('SIGTERM');
          watch.sendRun(spent, {
            executionId: `${ns}/${phantom.name}`,
            code: '"phantom"',
            language: 'javascript',
            heapMb: 16,
            timeoutMs: 10_000,
            execution: phantom,
          });
          phantoms.set(spent, phantom.name);
          expect(await exited).toBe(0);
          for (let j = 0; j < 3; j++) runs.push(await submit(ns, `roll ${i}.${j}`, 300));
        } else {
          for (let j = 0; j < 3; j++) runs.push(await submit(ns, `roll ${i}.${j}`, 800));
          await waitPhase(ns, runs.at(-3)!.name, ['Running', ...FINAL_PHASES]);
          child.kill('SIGTERM');
          expect(await exited).toBe(0);
        }
        await waitFor(
          async () => {
            const now = await cluster.leader();
            return now !== undefined && !old.slice(0, i + 1).includes(now);
          },
          30_000,
          'a running replica to lead',
        );
      }
      runs.push(await submit(ns, 'after the restart'));
      expect(phantoms.size).toBeGreaterThan(0);
      for (const [pod, name] of phantoms) expect((await watch.outcome(`${ns}/${name}`)).runnerId).toBe(pod);
      await expectOnePerPod(watch, cluster.tenants[1]!, runs);
      await waitFor(
        async () => !(await runnerPods()).some((p) => phantoms.has(p.name) && !p.deleting),
        30_000,
        'the spent pods deleted',
      );
    } finally {
      await watch.close();
    }
  }, 240_000);

  it('keeps tenants apart: B cannot read A’s executions', async () => {
    const [a, b] = cluster.tenants;
    const asA = await fetch(`${cluster.gatewayUrl}/api/exec?wait=30`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: '"secret of A"' }),
    });
    expect(asA.status).toBeLessThan(300);
    const created = (await asA.json()) as { execution_id: string };
    const asB = await fetch(`${cluster.gatewayUrl}/api/executions/${created.execution_id}`, {
      headers: { authorization: `Bearer ${b!.token}` },
    });
    expect(asB.status).toBe(404);
    const listB = await fetch(`${cluster.gatewayUrl}/api/executions`, {
      headers: { authorization: `Bearer ${b!.token}` },
    });
    expect(await listB.text()).not.toContain(created.execution_id);
    const outputB = await fetch(`${cluster.gatewayUrl}/api/executions/${created.execution_id}/output`, {
      headers: { authorization: `Bearer ${b!.token}` },
    });
    expect(outputB.status).toBe(404);
    const noToken = await fetch(`${cluster.gatewayUrl}/api/executions`);
    expect(noToken.status).toBe(401);
  }, 60_000);

  it('reuses pooled pods and sends the next cell of a session to the pod holding its heap live', async () => {
    const [tenant] = cluster.tenants;
    const pool = `/apis/mcpv8.dev/v1alpha1/namespaces/${cluster.namespace}/runnerpools/default`;
    const setPerPod = (n: number) =>
      kubeApi(kube, 'PATCH', pool, {
        body: { spec: { executionsPerPod: n } },
        contentType: 'application/merge-patch+json',
      });
    expect((await setPerPod(20)).status).toBe(200);
    // Pods made for one execution each keep no live heaps: replace them with pooled ones.
    const old = new Set((await runnerPods()).map((p) => p.name));
    for (const pod of old)
      await kubeApi(
        kube,
        'DELETE',
        `/api/v1/namespaces/${cluster.namespace}/pods/${pod}?gracePeriodSeconds=0`,
      );
    await waitFor(
      async () => (await runnerPods()).filter((p) => !p.deleting && !old.has(p.name)).length === 2,
      30_000,
      'two pooled pods',
    );
    const client = await mcpClient(tenant!.token);
    try {
      // Two sessions at once, so each pod holds one heap live.
      const starts = await Promise.all(
        [10, 20].map((n) =>
          call(client, 'run_js', { code: `var y = ${n}; await new Promise((r) => setTimeout(r, 800)); y` }),
        ),
      );
      const firsts = await Promise.all(
        starts.map((s) => waitPhase(tenant!.namespace, s.execution_id as string, ['Succeeded', 'Failed'])),
      );
      const holders = firsts.map((f) => f.status!.runner!.pod!);
      expect(new Set(holders).size).toBe(2);
      // One at a time, both pods idle: each resume goes to its holder, not just the first free pod.
      for (const [i, first] of [...firsts.entries()].reverse()) {
        const next = await call(client, 'run_js', { code: 'y + 1', heap: first.status!.heap });
        const done = await waitPhase(tenant!.namespace, next.execution_id as string, ['Succeeded', 'Failed']);
        expect(done.status?.result).toBe(String([10, 20][i]! + 1));
        expect(done.status?.runner?.pod).toBe(holders[i]);
      }
      // The pods served several executions and are still there, not discarded after one.
      const live = (await runnerPods()).map((p) => p.name);
      for (const pod of holders) expect(live).toContain(pod);
    } finally {
      await client.close();
      expect((await setPerPod(1)).status).toBe(200);
    }
  }, 120_000);

  it('deletes finished Executions after their TTL', async () => {
    const ns = cluster.tenants[0]!.namespace;
    const name = await applyExecution(ns, { code: '1', ttlSecondsAfterFinished: 2 });
    await waitPhase(ns, name, ['Succeeded']);
    await waitFor(async () => (await getExecution(ns, name)) === undefined, 20_000, 'the TTL deletion');
  }, 60_000);
});
