/**
 * What a test does against a cluster deployment as a user would: `kubectl apply` of an
 * Execution (server-side apply, as admin), reading it back, waiting for a phase, and MCP calls
 * to the gateway as a tenant. Shared by the fake-kubelet and the real-node suites.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { expect } from 'vitest';
import type { Execution } from '../../src/api/v1alpha1/index.ts';
import { waitFor } from './cluster-deployment.ts';
import { kubeApi } from './kube-api.ts';
import type { KubeEndpoint } from './kube.ts';

/** Path of the Executions of `ns` (or of one of them). */
export const EXEC = (ns: string, name = '') =>
  `/apis/mcpv8.dev/v1alpha1/namespaces/${ns}/executions${name ? `/${name}` : ''}`;

/** Phases an Execution never leaves. */
export const FINAL_PHASES = ['Succeeded', 'Failed', 'TimedOut', 'Cancelled'];

export interface ClusterClient {
  /** `kubectl apply` of an Execution with `spec`; resolves to its name. */
  applyExecution: (ns: string, spec: Record<string, unknown>) => Promise<string>;
  getExecution: (ns: string, name: string) => Promise<Execution | undefined>;
  /** Waits until the Execution is in one of `phases`; the error names its last status. */
  waitPhase: (ns: string, name: string, phases: string[], timeoutMs?: number) => Promise<Execution>;
  /** An MCP client of the gateway, as the tenant whose token is given. */
  mcpClient: (token: string) => Promise<Client>;
  /** Calls a tool and expects no tool error; resolves to its structured content. */
  call: (client: Client, name: string, args: Record<string, unknown>) => Promise<Record<string, unknown>>;
  /** Runner pods of the release namespace `ns`, and whether each is being deleted. */
  runnerPods: (ns: string) => Promise<Array<{ name: string; deleting: boolean }>>;
}

export function clusterClient(kube: KubeEndpoint, gatewayUrl: () => string): ClusterClient {
  let seq = 0;
  const getExecution = async (ns: string, name: string) => {
    const res = await kubeApi<Execution>(kube, 'GET', EXEC(ns, name));
    return res.status === 200 ? res.body : undefined;
  };
  return {
    applyExecution: async (ns, spec) => {
      const name = `e${Date.now().toString(36)}${seq++}`;
      const res = await kubeApi(kube, 'PATCH', `${EXEC(ns, name)}?fieldManager=kubectl&force=true`, {
        body: { apiVersion: 'mcpv8.dev/v1alpha1', kind: 'Execution', metadata: { name }, spec },
        contentType: 'application/apply-patch+yaml',
      });
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      return name;
    },
    getExecution,
    waitPhase: async (ns, name, phases, timeoutMs = 60_000) => {
      let last: Execution | undefined;
      try {
        await waitFor(
          async () => phases.includes((last = await getExecution(ns, name))?.status?.phase ?? ''),
          timeoutMs,
          `${ns}/${name} to reach ${phases.join('|')}`,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; last status ${JSON.stringify(last?.status)}`, {
          cause: err,
        });
      }
      return last!;
    },
    mcpClient: async (token) => {
      const client = new Client({ name: 'cluster-test', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`${gatewayUrl()}/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      return client;
    },
    call: async (client, name, args) => {
      const res = await client.callTool({ name, arguments: args });
      expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
      return res.structuredContent as Record<string, unknown>;
    },
    runnerPods: async (ns) => {
      const res = await kubeApi<{ items: Array<{ metadata: { name: string; deletionTimestamp?: string } }> }>(
        kube,
        'GET',
        `/api/v1/namespaces/${ns}/pods?labelSelector=mcpv8.dev/runner-pool`,
      );
      return res.body.items.map((p) => ({ name: p.metadata.name, deleting: !!p.metadata.deletionTimestamp }));
    },
  };
}
