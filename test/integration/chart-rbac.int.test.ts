// The chart's RBAC against a real kube-apiserver, as the identities the components really use:
// the chart is installed (test/harness/chart-install.ts) with one tenant, with none named, and
// with tenants named by namespace labels, and each check runs with a TokenRequest token of the
// controller's or gateway's ServiceAccount — through SelfSubjectAccessReview for the full
// matrix, and real requests for the calls that matter (with labels: the gateway's own tenancy
// check, TokenReview and namespace read, under the chart's RBAC).
import { CoordinationV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findHelm, installChart, type ChartInstall } from '../harness/chart-install.ts';
import { kubeApi } from '../harness/kube-api.ts';
import { asToken } from '../harness/kube-config.ts';
import { isMcpv8Error } from '../../src/core/index.ts';
import { Tenancy, kubeNamespaceLabels } from '../../src/gateway/auth/tenancy.ts';
import { TokenReviewAuthenticator, kubeTokenReview } from '../../src/gateway/auth/token-review.ts';

const kube = inject('services').kube!;
const id = randomBytes(3).toString('hex');
const ns = `chart-rbac-${id}`;
const tenant = `chart-rbac-${id}-tenant`;
const other = `chart-rbac-${id}-other`;
const LEASE = 'mcp-v8-controller';

const { helm, reason } = await findHelm();
if (reason) console.warn(`chart-rbac.int.test.ts skipped: ${reason}`);

interface Attrs {
  verb: string;
  resource: string;
  group?: string;
  namespace?: string;
  subresource?: string;
  name?: string;
}

/** What the apiserver's authorizer says for the bearer of `token`. */
async function can(token: string, a: Attrs): Promise<boolean> {
  const res = await kubeApi<{ status?: { allowed?: boolean } }>(
    asToken(kube, token),
    'POST',
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { ...a, group: a.group ?? '' } },
      },
    },
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.status?.allowed === true;
}

const executions = (verb: string, namespace: string, subresource?: string): Attrs => ({
  verb,
  group: 'mcpv8.dev',
  resource: 'executions',
  namespace,
  subresource,
});
const pods = (verb: string, namespace: string): Attrs => ({ verb, resource: 'pods', namespace });
const secrets = (verb: string, namespace: string): Attrs => ({ verb, resource: 'secrets', namespace });

/** Every attribute set with the expected answer; the failures listed together. */
async function expectAccess(token: string, cases: [Attrs, boolean][]): Promise<void> {
  const wrong: string[] = [];
  for (const [a, want] of cases) {
    if ((await can(token, a)) !== want) wrong.push(`${want ? 'denied' : 'allowed'}: ${JSON.stringify(a)}`);
  }
  expect(wrong).toEqual([]);
}

let chart: ChartInstall;

/**
 * Retries a client-node call answered 429: the apiserver briefly refuses custom-resource
 * requests while a CRD changes, and other test files re-apply the CRDs on the shared server.
 */
async function retry429<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if ((err as { code?: number }).code !== 429 || attempt >= 20) throw err;
      await sleep(250);
    }
  }
}

describe.skipIf(!helm)(
  `chart RBAC with the components' own tokens${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    beforeAll(async () => {
      chart = await installChart(kube, {
        namespace: ns,
        values: { tenants: [{ namespace: tenant, serviceAccounts: ['agent'] }], runnerPool: { replicas: 0 } },
      });
      expect(
        (await kubeApi(kube, 'POST', '/api/v1/namespaces', { body: { metadata: { name: other } } })).status,
      ).toBe(201);
    });

    afterAll(async () => {
      await kubeApi(kube, 'DELETE', `/api/v1/namespaces/${other}`);
      await chart?.uninstall();
    });

    it('installs without the Deployments and returns each component with its token and env', () => {
      expect(chart.controller.serviceAccount).toBe(`${chart.fullname}-controller`);
      expect(chart.gateway.serviceAccount).toBe(`${chart.fullname}-gateway`);
      expect(chart.controller.args).toEqual(['controller']);
      expect(chart.gateway.args).toEqual(['serve', '--mode', 'cluster']);
      expect(chart.controller.env.map((e) => e.name)).toContain('MCP_V8_LEADER_ELECTION_LEASE');
      expect(chart.gateway.env.map((e) => e.name)).toContain('MCP_V8_TENANTS');
    });

    it('resolves the rendered env as a kubelet would', async () => {
      const env = await chart.controller.resolveEnv('controller-0');
      expect(env).toMatchObject({
        POD_NAME: 'controller-0',
        POD_NAMESPACE: ns,
        MCP_V8_LEADER_ELECTION_LEASE: LEASE,
      });
    });

    it('controller: executions of its tenants, runner pods and its Lease in its namespace, nothing else', async () => {
      const t = chart.controller.token;
      await expectAccess(t, [
        [executions('list', tenant), true],
        [executions('watch', tenant), true],
        [executions('get', tenant), true],
        [executions('patch', tenant, 'status'), true],
        [executions('update', tenant, 'status'), true],
        [executions('delete', tenant), true],
        [executions('create', tenant), false],
        [executions('list', other), false],
        [executions('patch', other, 'status'), false],
        [{ verb: 'create', resource: 'events', namespace: tenant }, true],
        [pods('create', ns), true],
        [pods('delete', ns), true],
        [pods('list', ns), true],
        [pods('watch', ns), true],
        [pods('create', other), false],
        [pods('create', tenant), false],
        [pods('list', tenant), false],
        [{ verb: 'list', group: 'mcpv8.dev', resource: 'runnerpools', namespace: ns }, true],
        [
          {
            verb: 'patch',
            group: 'mcpv8.dev',
            resource: 'runnerpools',
            namespace: ns,
            subresource: 'status',
          },
          true,
        ],
        [{ verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: ns }, true],
        [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: LEASE }, true],
        [
          { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: ns, name: LEASE },
          true,
        ],
        [
          {
            verb: 'update',
            group: 'coordination.k8s.io',
            resource: 'leases',
            namespace: ns,
            name: 'another',
          },
          false,
        ],
        [
          { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: other, name: LEASE },
          false,
        ],
        [secrets('get', ns), false],
        [secrets('list', ns), false],
        [secrets('get', tenant), false],
      ]);
    });

    // The RunnerPool reconciler records events.k8s.io Events on RunnerPools in the release
    // namespace, which is no tenant: the controller's Role must grant them there.
    it('controller: may record Events on RunnerPools in its own namespace (tenant mode)', async () => {
      await expectAccess(chart.controller.token, [
        [{ verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: ns }, true],
      ]);
    });

    it('controller: the real calls succeed or are refused as granted', async () => {
      const kc = chart.controller.kubeConfig;
      const as = asToken(kube, chart.controller.token);
      const custom = kc.makeApiClient(CustomObjectsApi);
      const listed: unknown = await retry429(() =>
        custom.listNamespacedCustomObject({
          group: 'mcpv8.dev',
          version: 'v1alpha1',
          namespace: tenant,
          plural: 'executions',
        }),
      );
      expect((listed as { items: unknown[] }).items).toEqual([]);

      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'rbac-probe' },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: 'c', image: 'example.invalid/x' }],
        },
      };
      expect((await kubeApi(as, 'POST', `/api/v1/namespaces/${ns}/pods`, { body: pod })).status).toBe(201);
      expect(
        (await kubeApi(as, 'DELETE', `/api/v1/namespaces/${ns}/pods/rbac-probe?gracePeriodSeconds=0`)).status,
      ).toBe(200);
      expect((await kubeApi(as, 'POST', `/api/v1/namespaces/${other}/pods`, { body: pod })).status).toBe(403);
      expect((await kubeApi(as, 'GET', `/api/v1/namespaces/${ns}/secrets`)).status).toBe(403);

      const leases = kc.makeApiClient(CoordinationV1Api);
      const body = {
        metadata: { name: LEASE },
        spec: { holderIdentity: 'controller-0', leaseDurationSeconds: 15 },
      };
      await retry429(() => leases.createNamespacedLease({ namespace: ns, body }));
      const lease = await retry429(() => leases.readNamespacedLease({ name: LEASE, namespace: ns }));
      lease.spec!.holderIdentity = 'controller-1';
      const updated = await retry429(() =>
        leases.replaceNamespacedLease({ name: LEASE, namespace: ns, body: lease }),
      );
      expect(updated.spec?.holderIdentity).toBe('controller-1');
    });

    it('gateway: creates and reads Executions and reviews tokens; no status, pods or secrets', async () => {
      await expectAccess(chart.gateway.token, [
        [executions('create', tenant), true],
        [executions('get', tenant), true],
        [executions('list', tenant), true],
        [executions('watch', tenant), true],
        [executions('patch', tenant), true],
        [executions('create', other), false],
        [executions('patch', tenant, 'status'), false],
        [executions('update', tenant, 'status'), false],
        [{ verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }, true],
        [pods('create', ns), false],
        [pods('get', ns), false],
        [pods('list', tenant), false],
        [pods('delete', ns), false],
        [secrets('get', ns), false],
        [{ verb: 'list', group: 'mcpv8.dev', resource: 'runnerpools', namespace: ns }, false],
      ]);
    });

    it("gateway: a TokenReview of a tenant's token names its ServiceAccount; it creates an Execution there", async () => {
      const as = asToken(kube, chart.gateway.token);
      const agentToken = await chart.tenantToken(tenant, 'agent');
      const review = await kubeApi<{ status?: { authenticated?: boolean; user?: { username?: string } } }>(
        as,
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        {
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: agentToken } },
        },
      );
      expect(review.status, JSON.stringify(review.body)).toBe(201);
      expect(review.body.status?.authenticated).toBe(true);
      expect(review.body.status?.user?.username).toBe(`system:serviceaccount:${tenant}:agent`);

      const execution = {
        apiVersion: 'mcpv8.dev/v1alpha1',
        kind: 'Execution',
        metadata: { name: 'rbac-probe' },
        spec: { code: '1 + 1' },
      };
      const path = `/apis/mcpv8.dev/v1alpha1/namespaces/${tenant}/executions`;
      let created = await kubeApi(as, 'POST', path, { body: execution });
      for (let i = 0; i < 20 && created.status === 429; i++) {
        await sleep(250);
        created = await kubeApi(as, 'POST', path, { body: execution });
      }
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const status = await kubeApi(as, 'PATCH', `${path}/rbac-probe/status`, {
        body: { status: { phase: 'Succeeded' } },
        contentType: 'application/merge-patch+json',
      });
      expect(status.status).toBe(403);
      expect((await kubeApi(as, 'GET', `/api/v1/namespaces/${ns}/pods`)).status).toBe(403);
    });
  },
);

describe.skipIf(!helm)(`chart RBAC with no tenant named${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const wideNs = `chart-rbac-${id}-wide`;
  let wide: ChartInstall;

  beforeAll(async () => {
    wide = await installChart(kube, {
      namespace: wideNs,
      services: inject('services'),
      s3Bucket: 'rbac-test-heaps',
      values: { runnerPool: { replicas: 0 } },
    });
  });

  afterAll(async () => {
    await wide?.uninstall();
  });

  it('binds the controller cluster-wide (kubectl-created Executions) and gives the gateway no Execution access', async () => {
    await expectAccess(wide.controller.token, [
      [{ verb: 'watch', group: 'mcpv8.dev', resource: 'executions' }, true],
      [executions('patch', other, 'status'), true],
      [{ verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: wideNs }, true],
      [pods('create', wideNs), true],
      [pods('create', other), false],
      [secrets('get', wideNs), false],
    ]);
    // It serves nobody, so it may touch no Execution anywhere.
    await expectAccess(wide.gateway.token, [
      [executions('create', other), false],
      [executions('get', wideNs), false],
      [{ verb: 'watch', group: 'mcpv8.dev', resource: 'executions' }, false],
      [{ verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' }, true],
      [{ verb: 'get', resource: 'namespaces', name: other }, false],
      [pods('list', wideNs), false],
    ]);
  });

  it('points the rendered env at the harness services, credentials through a Secret', async () => {
    const services = inject('services');
    expect(
      wide.controller.env.find((e) => e.name === 'AWS_ACCESS_KEY_ID')?.valueFrom?.secretKeyRef,
    ).toBeDefined();
    const env = await wide.gateway.resolveEnv();
    expect(env).toMatchObject({
      MCP_V8_NATS_URL: services.nats!.url,
      MCP_V8_S3_ENDPOINT: services.s3!.url,
      MCP_V8_S3_BUCKET: 'rbac-test-heaps',
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: services.s3!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: services.s3!.secretAccessKey,
    });
    // policy.opaUrl only opens the runner NetworkPolicy: no process reads it, and the gateway
    // would take it for its egress broker's fetch policy.
    expect(env.MCP_V8_OPA_URL).toBeUndefined();
  });
});

describe.skipIf(!helm)(
  `chart RBAC with tenants named by namespace labels${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    const LABEL = 'mcpv8.dev/tenant';
    const selNs = `chart-rbac-${id}-sel`;
    const labelled = `chart-rbac-${id}-labelled`;
    const plain = `chart-rbac-${id}-plain`;
    let sel: ChartInstall;

    beforeAll(async () => {
      sel = await installChart(kube, {
        namespace: selNs,
        values: {
          tenantNamespaceSelector: { matchLabels: { [LABEL]: 'true' } },
          runnerPool: { replicas: 0 },
        },
      });
      const created = await kubeApi(kube, 'POST', '/api/v1/namespaces', {
        body: { metadata: { name: labelled, labels: { [LABEL]: 'true' } } },
      });
      expect(created.status).toBe(201);
    });

    afterAll(async () => {
      await kubeApi(kube, 'DELETE', `/api/v1/namespaces/${labelled}`);
      await sel?.uninstall();
    });

    it('gateway: reads namespaces and Executions anywhere (it checks tenancy itself); no pods, secrets or lists of namespaces', async () => {
      await expectAccess(sel.gateway.token, [
        [{ verb: 'get', resource: 'namespaces', name: labelled }, true],
        [{ verb: 'list', resource: 'namespaces' }, false],
        [{ verb: 'update', resource: 'namespaces', name: labelled }, false],
        [executions('create', labelled), true],
        [{ verb: 'watch', group: 'mcpv8.dev', resource: 'executions' }, true],
        [executions('patch', labelled, 'status'), false],
        [pods('list', labelled), false],
        [secrets('get', selNs), false],
      ]);
      expect(sel.gateway.env.find((e) => e.name === 'MCP_V8_TENANT_NAMESPACE_LABELS')?.value).toBe(
        JSON.stringify({ [LABEL]: 'true' }),
      );
    });

    it("gateway: with its own credentials admits a labelled namespace's ServiceAccount and refuses another's", async () => {
      const kc = sel.gateway.kubeConfig;
      const auth = new TokenReviewAuthenticator({
        review: kubeTokenReview(kc),
        tenancy: new Tenancy({ namespaceLabels: { [LABEL]: 'true' }, readLabels: kubeNamespaceLabels(kc) }),
      });
      await expect(auth.authenticate(await sel.tenantToken(labelled, 'agent'))).resolves.toEqual({
        namespace: labelled,
        subject: `system:serviceaccount:${labelled}:agent`,
      });
      const refused: unknown = await auth
        .authenticate(await sel.tenantToken(plain, 'agent'))
        .catch((err: unknown) => err);
      expect(isMcpv8Error(refused, 'MCPV8_ERR_AUTH_FORBIDDEN'), String(refused)).toBe(true);
      expect((refused as Error).message).toContain(`namespace ${plain} is not a tenant here`);
    });
  },
);
