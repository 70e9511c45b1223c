/**
 * Checks of "one execution per pod" for the failover tests of a cluster deployment: executions
 * whose output tells whether they ran once, the state a leader leaves when it dies after writing
 * an execution's end and before deleting its pod, and the check itself — per execution, and per
 * pod by the Executions and by the pods' own word ({@link PodClaimsWatch}).
 */
import { expect } from 'vitest';
import type { Execution } from '../../src/api/v1alpha1/index.ts';
import { recordOf, statusOf } from '../../src/cluster/execution-resource.ts';
import { EXEC, FINAL_PHASES, type ClusterClient } from './cluster-client.ts';
import type { Tenant } from './cluster-deployment.ts';
import { kubeApi } from './kube-api.ts';
import type { KubeEndpoint } from './kube.ts';
import { HARNESS_NODE } from './kubelet.ts';
import type { PodClaimsWatch } from './pod-claims-watch.ts';

/** An execution a failover test submitted: it prints `line` once, then returns it. */
export interface Submitted {
  name: string;
  line: string;
}

export function onePerPod(kube: KubeEndpoint, client: ClusterClient) {
  const { applyExecution, getExecution, waitPhase, mcpClient, call } = client;

  /** Applies an Execution of `ns` printing `line`, then waiting `ms`, then returning `line`. */
  async function submit(ns: string, line: string, ms = 0): Promise<Submitted> {
    const wait = ms > 0 ? `await new Promise((r) => setTimeout(r, ${ms})); ` : '';
    return {
      name: await applyExecution(ns, {
        code: `console.log(${JSON.stringify(line)}); ${wait}${JSON.stringify(line)}`,
      }),
      line,
    };
  }

  /**
   * What a leader leaves when it dies after writing an execution's end and before deleting its pod,
   * made by hand while no controller leads: an Execution assigned to `pod` (an idle one), run there
   * (the run sent as a controller sends it), then written Succeeded.
   */
  async function submitEnded(
    ns: string,
    pod: string,
    watch: PodClaimsWatch,
    line: string,
  ): Promise<Submitted> {
    const name = `e${Date.now().toString(36)}ended`;
    const code = `console.log(${JSON.stringify(line)}); ${JSON.stringify(line)}`;
    const created = await kubeApi<Execution>(kube, 'POST', EXEC(ns), {
      body: { apiVersion: 'mcpv8.dev/v1alpha1', kind: 'Execution', metadata: { name }, spec: { code } },
    });
    expect(created.status).toBe(201);
    // Assigned first, as a controller does: a leader that took over now would adopt it, not run it.
    const startedAt = new Date().toISOString();
    const assigned = await kubeApi(kube, 'PATCH', `${EXEC(ns, name)}/status`, {
      body: { status: { phase: 'Running', runner: { pod, node: HARNESS_NODE }, startTime: startedAt } },
      contentType: 'application/merge-patch+json',
    });
    expect(assigned.status).toBe(200);
    const { limits } = created.body.spec;
    watch.sendRun(pod, {
      executionId: `${ns}/${name}`,
      code,
      language: 'javascript',
      heapMb: limits.heapMemoryMaxMb,
      timeoutMs: limits.timeoutSeconds * 1000,
      execution: { namespace: ns, name },
    });
    const stored = await watch.outcome(`${ns}/${name}`);
    expect(stored.runnerId).toBe(pod);
    const current = (await getExecution(ns, name))!;
    const record = recordOf(current);
    if (record.status === 'running') {
      const end = {
        ...record,
        status: 'completed' as const,
        completedAt: new Date().toISOString(),
        outcome: stored.outcome,
      };
      const ended = await kubeApi(kube, 'PATCH', `${EXEC(ns, name)}/status`, {
        body: {
          metadata: { resourceVersion: current.metadata!.resourceVersion },
          status: statusOf(end, current.status, current.metadata!.generation, end.completedAt),
        },
        contentType: 'application/merge-patch+json',
      });
      // 409: a leader took over meanwhile, adopted it and wrote its end itself.
      expect([200, 409]).toContain(ended.status);
    }
    return { name, line };
  }

  /**
   * Every execution Succeeded, ran once (its line once in its output), on a pod of the harness node;
   * and per pod, at most one execution: no two Executions name the same pod, no pod announced it
   * admitted more than one run, and no pod was sent a run its claim did not cover (a refusal).
   */
  async function expectOnePerPod(watch: PodClaimsWatch, tenant: Tenant, runs: Submitted[]): Promise<void> {
    const { namespace: ns, token } = tenant;
    const byPod = new Map<string, string[]>();
    const mcp = await mcpClient(token);
    try {
      for (const { name, line } of runs) {
        const done = await waitPhase(ns, name, FINAL_PHASES, 90_000);
        expect(done.status?.phase, `${name}: ${JSON.stringify(done.status)}`).toBe('Succeeded');
        expect(done.status?.result).toBe(JSON.stringify(line));
        const out = await call(mcp, 'get_execution_output', { execution_id: name });
        expect((out.data as string).split('\n').filter((l) => l === line)).toHaveLength(1);
        const { pod, node } = done.status!.runner!;
        expect(node).toBe(HARNESS_NODE);
        byPod.set(pod!, [...(byPod.get(pod!) ?? []), name]);
      }
    } finally {
      await mcp.close();
    }
    for (const [pod, names] of byPod) expect(names, `Executions run by ${pod}`).toHaveLength(1);
    const admitted = await watch.admitted();
    for (const pod of byPod.keys()) expect(admitted.get(pod), `runs ${pod} admitted`).toBe(1);
    for (const [pod, n] of admitted) expect(n, `runs ${pod} admitted`).toBeLessThanOrEqual(1);
    expect(await watch.refusals()).toEqual([]);
  }

  return { submit, submitEnded, expectOnePerPod };
}
