// The cluster gateway against the real kube-apiserver, NATS JetStream and S3: it runs as a
// ServiceAccount bound to the chart's gateway ClusterRole rules (rbac-gateway.yaml), and callers
// present real ServiceAccount tokens (TokenRequest API) of two tenant namespaces. The test plays
// the controller where one is needed (it writes output and a Cancelled status as admin).
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { crdPath } from '../../scripts/generate-crds.ts';
import { API_VERSION, CRDS, type Execution } from '../../src/api/v1alpha1/index.ts';
import { loadClusterGatewayConfig } from '../../src/cli/cluster-config.ts';
import { startClusterGateway, type ClusterGateway } from '../../src/cli/cluster-gateway.ts';
import { ClusterExecutionQueue } from '../../src/cluster/cluster-execution-queue.ts';
import { JetStreamOutputLog } from '../../src/cluster/jetstream-output-log.ts';
import { KubeExecutionStore } from '../../src/cluster/kube-execution-store.ts';
import { KvSessionLog } from '../../src/cluster/kv-session-log.ts';
import { TenantHeapStores } from '../../src/cluster/tenant-heap-stores.ts';
import { sessionBucket } from '../../src/cluster/cluster-tenant-stores.ts';
import { toolsFor } from '../../src/gateway/mcp/mcp-server.ts';
import { sampleNode } from '../contract/heap-store.contract.ts';
import { freePort } from '../harness/free-port.ts';
import { kubeApi, type KubeRequestOptions } from '../harness/kube-api.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { isMcpv8Error } from '../../src/core/index.ts';
import { s3TestClient } from '../harness/s3-client.ts';
import { requestToken } from '../harness/chart-install.ts';

const { kube, nats, s3 } = inject('services') as Required<ReturnType<typeof inject<'services'>>>;
const root = fileURLToPath(new URL('../../', import.meta.url));
const run = randomBytes(3).toString('hex');
const NS_A = `cg-${run}-a`;
const NS_B = `cg-${run}-b`;
/** Where the gateway's own ServiceAccount lives; not a tenant. */
const NS_GW = `cg-${run}-gw`;
const ROLE = `cg-${run}-gateway`;
const BUCKET = `cg-${run}`;

const api = <T = Record<string, unknown>>(method: string, path: string, opts: KubeRequestOptions = {}) =>
  kubeApi<T>(kube, method, path, opts);
const executionPath = (ns: string, name: string) =>
  `/apis/${API_VERSION}/namespaces/${ns}/executions/${name}`;

async function ok(what: string, p: Promise<{ status: number; body: unknown }>): Promise<void> {
  const res = await p;
  if (res.status >= 300 && res.status !== 409)
    throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
}

const token = (ns: string, sa: string) => requestToken(kube, ns, sa);

let dir: string;
let gateway: ClusterGateway;
let nc: NatsConnection;
let tokA: string;
let tokB: string;
let tokGw: string;

beforeAll(async () => {
  for (const crd of CRDS) {
    await ok(
      `CRD ${crd.metadata.name}`,
      api(
        'PATCH',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=mcpv8-crds-test&force=true`,
        { body: readFileSync(join(root, crdPath(crd)), 'utf8'), contentType: 'application/apply-patch+yaml' },
      ),
    );
  }
  for (const ns of [NS_A, NS_B, NS_GW]) {
    await ok(`namespace ${ns}`, api('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } }));
  }
  for (const [ns, sa] of [
    [NS_A, 'agent'],
    [NS_B, 'agent'],
    [NS_GW, 'gateway'],
  ] as const) {
    await ok(
      `sa ${ns}/${sa}`,
      api('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { metadata: { name: sa } } }),
    );
  }
  // The rules of charts/mcp-v8/templates/rbac-gateway.yaml (both ClusterRoles), bound cluster-wide
  // as the chart does when tenants are named by namespace labels.
  await ok(
    'gateway ClusterRole',
    api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: {
        metadata: { name: ROLE },
        rules: [
          {
            apiGroups: ['mcpv8.dev'],
            resources: ['executions'],
            verbs: ['create', 'get', 'list', 'watch', 'patch'],
          },
          { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        ],
      },
    }),
  );
  await ok(
    'gateway ClusterRoleBinding',
    api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        metadata: { name: ROLE },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ROLE },
        subjects: [{ kind: 'ServiceAccount', name: 'gateway', namespace: NS_GW }],
      },
    }),
  );
  [tokA, tokB, tokGw] = await Promise.all([
    token(NS_A, 'agent'),
    token(NS_B, 'agent'),
    token(NS_GW, 'gateway'),
  ]);

  await s3TestClient(s3).send(new CreateBucketCommand({ Bucket: BUCKET }));
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);

  dir = mkdtempSync(join(tmpdir(), 'cluster-gateway-'));
  const kubeconfig = join(dir, 'kubeconfig.json');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'it',
          cluster: {
            server: kube.server,
            'certificate-authority-data': Buffer.from(kube.caPem).toString('base64'),
          },
        },
      ],
      users: [{ name: 'gateway', user: { token: tokGw } }],
      contexts: [{ name: 'it', context: { cluster: 'it', user: 'gateway' } }],
      'current-context': 'it',
    }),
    { mode: 0o600 },
  );
  const config = loadClusterGatewayConfig(
    [
      'serve',
      '--mode',
      'cluster',
      '--http-port',
      String(await freePort()),
      '--host',
      '127.0.0.1',
      '--log-level',
      'silent',
    ],
    {
      MCP_V8_KUBECONFIG: kubeconfig,
      MCP_V8_NATS_URL: nats.url,
      MCP_V8_S3_BUCKET: BUCKET,
      MCP_V8_S3_ENDPOINT: s3.url,
      MCP_V8_S3_REGION: s3.region,
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      MCP_V8_TENANTS: JSON.stringify([{ namespace: NS_A, serviceAccounts: ['agent'] }, { namespace: NS_B }]),
    },
  );
  gateway = await startClusterGateway(config, pino({ level: 'silent' }));
  nc = await connect({ servers: nats.url });
  // Ready once NATS is connected and the API server answered (and the CRD is served).
  for (let i = 0; ; i++) {
    const ready = (await fetch(`${gateway.url}/readyz`)).status === 200;
    const served = (await api('GET', `/apis/${API_VERSION}/namespaces/${NS_A}/executions`)).status === 200;
    if (ready && served) break;
    if (i > 150) throw new Error('gateway not ready');
    await sleep(200);
  }
});

afterAll(async () => {
  await gateway?.close();
  await nc?.close();
  vi.unstubAllEnvs();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await api('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${ROLE}`);
  await api('DELETE', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${ROLE}`);
  await Promise.all([NS_A, NS_B, NS_GW].map((ns) => api('DELETE', `/api/v1/namespaces/${ns}`)));
});

const call = (method: string, path: string, tok: string | undefined, body?: unknown) =>
  fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(tok !== undefined && { authorization: `Bearer ${tok}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
const json = async <T = Record<string, unknown>>(res: Response | Promise<Response>) =>
  (await (await res).json()) as T;

async function mcp(tok: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'it', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${tok}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

async function submit(tok: string, code = '6 * 7'): Promise<string> {
  const res = await call('POST', '/api/exec', tok, { code });
  expect(res.status).toBe(202);
  return (await json<{ execution_id: string }>(res)).execution_id;
}

describe('authentication', () => {
  it('keeps probes open and answers 401 for a missing or bad token, 403 for a non-tenant', async () => {
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const none = await call('GET', '/api/executions', undefined);
    expect(none.status).toBe(401);
    const bad = await call('GET', '/api/executions', 'not-a-token');
    expect(bad.status).toBe(401);
    expect((await json<{ error: { code: string } }>(bad)).error.code).toBe('MCPV8_ERR_AUTH_REQUIRED');
    // A valid token whose namespace is not a tenant.
    const gw = await call('GET', '/api/executions', tokGw);
    expect(gw.status).toBe(403);
    expect((await json<{ error: { code: string } }>(gw)).error.code).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
  });
});

describe('executions per tenant', () => {
  let id: string;

  beforeAll(async () => {
    id = await submit(tokA);
  });

  it("creates the Execution in the caller's namespace, without a status", async () => {
    const res = await api<Execution>('GET', executionPath(NS_A, id));
    expect(res.status).toBe(200);
    expect(res.body.spec.code).toBe('6 * 7');
    expect(res.body.status).toBeUndefined();
    expect((await api('GET', executionPath(NS_B, id))).status).toBe(404);
    expect(await json(call('GET', `/api/executions/${id}`, tokA))).toMatchObject({
      execution_id: id,
      status: 'queued',
    });
  });

  it("hides it from another tenant's get and list", async () => {
    const b = await call('GET', `/api/executions/${id}`, tokB);
    expect(b.status).toBe(404);
    const listB = await json<{ executions: Array<{ execution_id: string }> }>(
      call('GET', '/api/executions', tokB),
    );
    expect(listB.executions.map((e) => e.execution_id)).not.toContain(id);
    const listA = await json<{ executions: Array<{ execution_id: string }> }>(
      call('GET', '/api/executions', tokA),
    );
    expect(listA.executions.map((e) => e.execution_id)).toContain(id);
  });

  it("reads output from the tenant's JetStream log over REST and MCP", async () => {
    const log = await JetStreamOutputLog.open(nc, { namespace: NS_A });
    await log.append(id, [{ level: 'log', text: 'hello tenant a' }]);
    const rest = await call('GET', `/api/executions/${id}/output`, tokA);
    expect(rest.status).toBe(200);
    expect(JSON.stringify(await rest.json())).toContain('hello tenant a');
    expect((await call('GET', `/api/executions/${id}/output`, tokB)).status).toBe(404);

    const a = await mcp(tokA);
    const b = await mcp(tokB);
    try {
      const outA = await a.client.callTool({ name: 'get_execution_output', arguments: { execution_id: id } });
      expect(outA.isError).toBeFalsy();
      expect(JSON.stringify(outA.structuredContent)).toContain('hello tenant a');
      const outB = await b.client.callTool({ name: 'get_execution_output', arguments: { execution_id: id } });
      expect(outB.isError).toBe(true);
      expect(JSON.stringify(outB.content)).toContain('MCPV8_ERR_EXEC_NOT_FOUND');
    } finally {
      await a.client.close();
      await b.client.close();
    }
  });

  it('cancels over MCP through spec.cancelRequested and answers once the controller ended it', async () => {
    const victim = await submit(tokA, 'while (true) {}');
    const { client } = await mcp(tokA);
    try {
      const pending = client.callTool({ name: 'cancel_execution', arguments: { execution_id: victim } });
      // Playing the controller: see the request, end the execution.
      for (let i = 0; ; i++) {
        const ex = (await api<Execution>('GET', executionPath(NS_A, victim))).body;
        if (ex.spec.cancelRequested === true) break;
        if (i > 100) throw new Error('cancelRequested never set');
        await sleep(50);
      }
      const done = await api('PATCH', `${executionPath(NS_A, victim)}/status`, {
        body: { status: { phase: 'Cancelled', completionTime: new Date().toISOString() } },
        contentType: 'application/merge-patch+json',
      });
      expect(done.status, JSON.stringify(done.body)).toBe(200);
      const result = await pending;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ execution_id: victim, status: 'cancelled' });
      // Another tenant cannot cancel what it cannot see.
      const asB = await call('POST', `/api/executions/${id}/cancel`, tokB);
      expect(asB.status).toBe(404);
    } finally {
      await client.close();
    }
  });

  it('binds an MCP session to the tenant that created it', async () => {
    const { client, transport } = await mcp(tokA);
    try {
      const res = await fetch(`${gateway.url}/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokB}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId!,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }),
      });
      expect(res.status).toBe(403);
    } finally {
      await client.close();
    }
  });

  it('lists the same tools as a stateful embedded server', async () => {
    const { client } = await mcp(tokB);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(
        toolsFor({ stateful: true, sessions: true }).map((t) => t.name),
      );
    } finally {
      await client.close();
    }
  });
});

describe('heaps, tags and sessions per tenant', () => {
  it("keeps A's heaps, tags and sessions invisible to B", async () => {
    const heaps = new TenantHeapStores({ client: s3TestClient(s3), bucket: BUCKET });
    const heap = await heaps.forNamespace(NS_A).put(sampleNode(`cg ${run}`));
    const set = await call('PUT', `/api/heaps/${heap}/tags`, tokA, { tags: { team: 'a' } });
    expect(set.status).toBe(200);
    expect(await json(call('GET', `/api/heaps/${heap}/tags`, tokA))).toEqual({ heap, tags: { team: 'a' } });
    const asB = await call('GET', `/api/heaps/${heap}/tags`, tokB);
    expect(asB.status).toBe(404);
    expect((await json<{ error: { code: string } }>(asB)).error.code).toBe('MCPV8_ERR_HEAP_NOT_FOUND');
    expect(await json(call('POST', '/api/heaps/query', tokB, { tags: { team: 'a' } }))).toEqual({
      heaps: [],
    });
    expect(await json(call('POST', '/api/heaps/query', tokA, { tags: { team: 'a' } }))).toMatchObject({
      heaps: [{ heap, tags: { team: 'a' } }],
    });
    // Resuming another tenant's heap: unknown to B.
    expect((await call('POST', '/api/exec', tokB, { code: '1', heap })).status).toBe(404);
    expect((await call('POST', '/api/exec', tokA, { code: '1', heap })).status).toBe(202);

    const log = await KvSessionLog.open(nc, { bucket: sessionBucket(NS_A) });
    await log.append('notebook', {
      inputHeap: null,
      outputHeap: heap,
      code: 'x',
      timestamp: new Date().toISOString(),
    });
    expect(await json(call('GET', '/api/sessions', tokA))).toEqual({ sessions: ['notebook'] });
    expect(await json(call('GET', '/api/sessions', tokB))).toEqual({ sessions: [] });
    const snaps = await json<{ entries: unknown[] }>(call('GET', '/api/sessions/notebook/snapshots', tokB));
    expect(snaps.entries).toEqual([]);
  });
});

describe('ClusterExecutionQueue', () => {
  it('waits a bounded time, and refuses unknown and finished executions with the embedded codes', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(join(dir, 'kubeconfig.json'));
    const store = new KubeExecutionStore({ kubeConfig, writeInitialStatus: false });
    const queue = new ClusterExecutionQueue({ kubeConfig, store, cancelWaitMs: 300, pollMs: 50 });
    const id = await submit(tokA);
    const started = Date.now();
    // Nobody ends it: the record comes back as it is once the wait is over.
    await expect(queue.cancel(NS_A, id)).resolves.toMatchObject({ id, status: 'queued' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await api<Execution>('GET', executionPath(NS_A, id))).body.spec.cancelRequested).toBe(true);
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (isMcpv8Error(e) ? e.code : String(e)),
      );
    expect(await code(queue.cancel(NS_B, id))).toBe('MCPV8_ERR_EXEC_NOT_FOUND');
    await api('PATCH', `${executionPath(NS_A, id)}/status`, {
      body: { status: { phase: 'Cancelled', completionTime: new Date().toISOString() } },
      contentType: 'application/merge-patch+json',
    });
    expect(await code(queue.cancel(NS_A, id))).toBe('MCPV8_ERR_EXEC_FINISHED');
  });
});
