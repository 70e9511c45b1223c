// The Helm chart against a real kube-apiserver: `helm lint` passes, and every object that
// `helm template` renders with default values is accepted by a server-side dry run (after the
// chart's CRDs are applied, as Helm does). Also checks what the apiserver cannot: RBAC without
// wildcards, a runner ServiceAccount with no permissions and no token, pod templates that pass
// PodSecurity "restricted" (dry-run Pods in a namespace that enforces it), the runner
// NetworkPolicy (no ingress; egress only to DNS and the selected services, address ranges only
// when named and then without the private ones), the tenancy default (nobody is a tenant until
// named) and the install-time check of the release namespace's PodSecurity labels.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyCrdYaml, kubeApi, type KubeRequestOptions } from '../harness/kube-api.ts';
import { findHelm } from '../harness/chart-install.ts';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};
type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; nonResourceURLs?: string[] };
type Subject = { kind: string; name: string; namespace?: string };
type Container = {
  name: string;
  securityContext?: Record<string, unknown>;
  env?: { name: string; value?: string }[];
};
type PodSpec = {
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
};

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const chartDir = join(root, 'charts/mcp-v8');
const kube = inject('services').kube!;
const ns = `helm-${randomBytes(3).toString('hex')}`;
const FIELD_MANAGER = 'mcpv8-helm-chart-test';

const api = <T = Record<string, unknown>>(method: string, path: string, opts: KubeRequestOptions = {}) =>
  kubeApi<T>(kube, method, path, opts);

const { helm, reason } = await findHelm();
if (reason) console.warn(`helm-chart.int.test.ts skipped: ${reason}`);

const helmRun = async (...args: string[]) => (await run(helm!, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
const render = async (...set: string[]): Promise<Obj[]> =>
  parseAllDocuments(await helmRun('template', 'mcp-v8', chartDir, '--namespace', ns, ...set))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

/** kind → REST path pieces, from discovery (so the test needs no table of resources). */
async function resourcePath(obj: Obj): Promise<string> {
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const res = await api<{ resources: { name: string; kind: string; namespaced: boolean }[] }>('GET', base);
  const r = res.body.resources.find((x) => x.kind === obj.kind && !x.name.includes('/'));
  if (!r) throw new Error(`${obj.apiVersion} ${obj.kind} is not served`);
  const nsPart = r.namespaced ? `/namespaces/${obj.metadata.namespace ?? ns}` : '';
  return `${base}${nsPart}/${r.name}/${obj.metadata.name}`;
}

/** Server-side apply, dry run: admission and validation happen, nothing is stored. */
async function dryRunApply(obj: Obj) {
  const query = `fieldManager=${FIELD_MANAGER}&force=true&dryRun=All`;
  return api('PATCH', `${await resourcePath(obj)}?${query}`, {
    body: obj,
    contentType: 'application/apply-patch+yaml',
  });
}

let objects: Obj[] = [];
const ofKind = (...kinds: string[]) => objects.filter((o) => kinds.includes(o.kind));
const podSpecs = () =>
  ofKind('Deployment').map(
    (d) => [d.metadata.name, (d.spec as { template: { spec: PodSpec } }).template.spec] as const,
  );

type Peer = {
  ipBlock?: { cidr: string; except?: string[] };
  namespaceSelector?: { matchLabels?: Record<string, string> };
  podSelector?: { matchLabels?: Record<string, string> };
};
type PolicySpec = {
  podSelector: { matchLabels: Record<string, string> };
  policyTypes: string[];
  ingress?: unknown[];
  egress: { to?: Peer[]; ports?: { port: number; protocol?: string }[] }[];
};
const PORT_443 = [{ port: 443, protocol: 'TCP' }];
/** External ranges of every kind: the internet, part of it, inside a private range, IPv6. */
const EXTERNAL = JSON.stringify(
  [
    { cidr: '0.0.0.0/0' },
    { cidr: '::/0' },
    { cidr: '128.0.0.0/1', except: ['192.168.0.0/16', '203.0.113.0/24'] },
    { cidr: '8.0.0.0/5' },
    { cidr: '10.1.2.3/32' },
    { cidr: '2001:db8::/32' },
    { cidr: 'fe80::/9' },
  ].map((e) => ({ ...e, ports: PORT_443 })),
);
const SELECTOR = JSON.stringify({ matchLabels: { 'mcpv8.dev/tenant': 'true' } });

const runnerPolicy = (objs: Obj[]) =>
  objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'mcp-v8-runner')!.spec as PolicySpec;

/** Each egress rule in words: `ns=<namespace>[ pods=<labels>]` or `<cidr>[ except …]`, then its ports. */
function egressOf(spec: PolicySpec): string[] {
  return spec.egress.map((rule) => {
    const to = (rule.to ?? []).map((p) =>
      p.ipBlock
        ? `${p.ipBlock.cidr}${p.ipBlock.except ? ` except ${p.ipBlock.except.join(',')}` : ''}`
        : `ns=${p.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] ?? 'ANY'}` +
          (p.podSelector ? ` pods=${JSON.stringify(p.podSelector.matchLabels)}` : ''),
    );
    const ports = (rule.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`);
    return `${to.join(' | ') || 'ANYWHERE'} ${ports.join(',') || 'ALL-PORTS'}`;
  });
}

/** Rules a runner pod could use to reach any address: no peers, or a /0 range. */
const openToAll = (spec: PolicySpec) =>
  egressOf(spec).filter((r) => r.startsWith('ANYWHERE') || /(^|\| )(0\.0\.0\.0|::)\/0( |$)/.test(r));

/** A Deployment container's env as a map. */
function envOf(objs: Obj[], deployment: string): Record<string, string | undefined> {
  const d = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === deployment)!;
  const c = (d.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!;
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
}

/** ClusterRole names bound by the bindings whose subject is ServiceAccount `sa`, as `Kind/role`. */
const boundRoles = (objs: Obj[], sa: string) =>
  objs
    .filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')
    .filter((b) => (b.subjects as Subject[]).some((x) => x.name === sa))
    .map((b) => `${b.kind}/${(b.roleRef as { name: string }).name}`)
    .sort();

describe.skipIf(!helm)(`Helm chart charts/mcp-v8${reason ? ` (skipped: ${reason})` : ''}`, () => {
  beforeAll(async () => {
    // The chart's crds/ as Helm applies them, before any template.
    for (const file of readdirSync(join(chartDir, 'crds'))) {
      const text = readFileSync(join(chartDir, 'crds', file), 'utf8');
      const name = (parseYaml(text) as Obj).metadata.name;
      const res = await applyCrdYaml(kube, name, text, FIELD_MANAGER);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    }
    // Restricted enforcement, so the dry-run Pods below meet real PodSecurity admission.
    const created = await api('POST', '/api/v1/namespaces', {
      body: {
        metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
      },
    });
    expect(created.status).toBe(201);
    objects = await render();
  });

  afterAll(async () => {
    await api('DELETE', `/api/v1/namespaces/${ns}`);
  });

  it('passes helm lint (also with the ServiceMonitor, tenants and external egress on)', async () => {
    await helmRun('lint', '--strict', chartDir);
    await helmRun('lint', '--strict', chartDir, '--set', 'serviceMonitor.enabled=true');
    await helmRun('lint', '--strict', chartDir, '--set', 'tenants[0].namespace=team-a');
    await helmRun('lint', '--strict', chartDir, '--set-json', `tenantNamespaceSelector=${SELECTOR}`);
    await helmRun('lint', '--strict', chartDir, '--set-json', `networkPolicy.external=${EXTERNAL}`);
  });

  it('renders what the chart promises', () => {
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    for (const want of [
      'ServiceAccount/mcp-v8-gateway',
      'ServiceAccount/mcp-v8-controller',
      'ServiceAccount/mcp-v8-runner',
      'Deployment/mcp-v8-gateway',
      'Deployment/mcp-v8-controller',
      'Service/mcp-v8-gateway',
      'RunnerPool/default',
      'NetworkPolicy/mcp-v8-runner',
    ])
      expect(kinds).toContain(want);
    expect(kinds.some((k) => k.startsWith('ServiceMonitor/'))).toBe(false);
    const controller = ofKind('Deployment').find((d) => d.metadata.name === 'mcp-v8-controller')!;
    expect((controller.spec as { replicas: number }).replicas).toBe(2);
  });

  it('is accepted by the apiserver (server-side apply, dry run)', async () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const obj of objects) {
      const res = await dryRunApply(obj);
      expect(res.status, `${obj.kind}/${obj.metadata.name}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    }
  });

  it('accepts the per-tenant RoleBindings too', async () => {
    const tenant = `${ns}-tenant`;
    expect((await api('POST', '/api/v1/namespaces', { body: { metadata: { name: tenant } } })).status).toBe(
      201,
    );
    try {
      const withTenant = await render('--set', `tenants[0].namespace=${tenant}`);
      const bindings = withTenant.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === tenant);
      expect(bindings.map((b) => b.metadata.name).sort()).toEqual(['mcp-v8-controller', 'mcp-v8-gateway']);
      // Only the TokenReview binding stays cluster-wide.
      expect(withTenant.filter((o) => o.kind === 'ClusterRoleBinding').map((o) => o.metadata.name)).toEqual([
        'mcp-v8-gateway-tokenreview',
      ]);
      for (const obj of bindings) expect((await dryRunApply(obj)).status).toBeLessThan(300);
    } finally {
      await api('DELETE', `/api/v1/namespaces/${tenant}`);
    }
  });

  it('grants no wildcard verbs, resources or API groups', () => {
    const roles = ofKind('Role', 'ClusterRole');
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles) {
      for (const rule of role.rules as Rule[]) {
        const where = `${role.kind}/${role.metadata.name}`;
        expect(rule.verbs, where).not.toContain('*');
        expect(rule.resources ?? [], where).not.toContain('*');
        expect(rule.apiGroups ?? [], where).not.toContain('*');
        expect(rule.nonResourceURLs, where).toBeUndefined();
      }
    }
  });

  it('gives the runner ServiceAccount no binding and no token', () => {
    const runner = ofKind('ServiceAccount').find((sa) => sa.metadata.name === 'mcp-v8-runner')!;
    expect(runner.automountServiceAccountToken).toBe(false);
    for (const binding of ofKind('RoleBinding', 'ClusterRoleBinding')) {
      const subjects = binding.subjects as Subject[];
      expect(subjects.map((s) => s.name)).not.toContain('mcp-v8-runner');
    }
  });

  it('has restricted-compliant pod templates', () => {
    const specs = podSpecs();
    expect(specs.length).toBe(2);
    for (const [name, spec] of specs) {
      const pod = spec.securityContext ?? {};
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        const sc = c.securityContext ?? {};
        const where = `${name}/${c.name}`;
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, where).toBe(true);
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect((sc.capabilities as { drop?: string[] } | undefined)?.drop, where).toContain('ALL');
        expect(sc.seccompProfile ?? pod.seccompProfile, where).toEqual({ type: 'RuntimeDefault' });
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
      }
    }
  });

  it('has pod templates that PodSecurity "restricted" admits', async () => {
    // Pod admission looks the ServiceAccount up, so these (and only these) are created for real.
    for (const sa of ofKind('ServiceAccount')) {
      expect((await api('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: sa })).status).toBe(201);
    }
    for (const [name, spec] of podSpecs()) {
      const res = await api('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, {
        body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec },
      });
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(201);
    }
  });

  describe('runner NetworkPolicy', () => {
    it('selects the runner pods and denies them all ingress', () => {
      const spec = runnerPolicy(objects);
      const labels = JSON.parse(envOf(objects, 'mcp-v8-controller').MCP_V8_RUNNER_POD_LABELS!) as object;
      expect(spec.podSelector.matchLabels).toEqual(labels);
      expect(spec.policyTypes).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
      expect(spec.ingress ?? []).toEqual([]);
    });

    it('opens, with default values, only DNS and the NATS the chart points at — no address range', () => {
      const spec = runnerPolicy(objects);
      expect(openToAll(spec)).toEqual([]);
      expect(spec.egress.flatMap((r) => r.to ?? []).filter((p) => p.ipBlock)).toEqual([]);
      // nats.url is nats://nats.nats.svc:4222; s3.endpoint (AWS S3) and policy.opaUrl are empty.
      expect(egressOf(spec)).toEqual([
        'ns=kube-system pods={"k8s-app":"kube-dns"} UDP/53,TCP/53',
        'ns=nats TCP/4222',
      ]);
    });

    it('selects each in-cluster service by the namespace its URL names, narrowed by pod labels', async () => {
      const spec = runnerPolicy(
        await render(
          ...['--set', 'nats.url=nats://10.0.0.5:4222', '--set', 'policy.opaUrl=http://opa:8181'],
          ...['--set', 's3.endpoint=http://minio.storage.svc.cluster.local:9000'],
          ...['--set-json', 'networkPolicy.s3.podLabels={"app":"minio"}'],
        ),
      );
      // NATS by address: no rule (the notes say so); OPA by bare Service name: the release namespace.
      expect(egressOf(spec)).toEqual([
        'ns=kube-system pods={"k8s-app":"kube-dns"} UDP/53,TCP/53',
        `ns=${ns} TCP/8181`,
        'ns=storage pods={"app":"minio"} TCP/9000',
      ]);
      const named = runnerPolicy(await render('--set', 'networkPolicy.nats.namespace=messaging'));
      expect(egressOf(named)).toContain('ns=messaging TCP/4222');
    });

    it('opens an external range only as named, without the private and link-local ranges inside it', async () => {
      const rendered = await render('--set-json', `networkPolicy.external=${EXTERNAL}`);
      const external = egressOf(runnerPolicy(rendered)).slice(2);
      expect(external).toEqual([
        '0.0.0.0/0 except 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16 TCP/443',
        '::/0 except fc00::/7,fe80::/10 TCP/443',
        '128.0.0.0/1 except 172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,203.0.113.0/24 TCP/443',
        '8.0.0.0/5 except 10.0.0.0/8 TCP/443',
        // Inside a private range, or holding none: named on purpose, nothing to except.
        '10.1.2.3/32 TCP/443',
        '2001:db8::/32 TCP/443',
        'fe80::/9 except fe80::/10 TCP/443',
      ]);
      // The apiserver requires every except to be a strict subset of its cidr.
      const policy = rendered.find((o) => o.kind === 'NetworkPolicy')!;
      const res = await dryRunApply(policy);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    });

    it('refuses a rule that would open every port, and a CIDR that is none', async () => {
      const bad = (json: unknown) => render('--set-json', `networkPolicy.external=${JSON.stringify(json)}`);
      await expect(bad([{ cidr: '0.0.0.0/0' }])).rejects.toThrow(/external\[0\] needs ports/);
      await expect(bad([{ cidr: '300.1.2.3/8', ports: PORT_443 }])).rejects.toThrow(
        /is not an IPv4 or IPv6 CIDR/,
      );
      await expect(render('--set-json', 'networkPolicy.nats.ports=[]')).rejects.toThrow(/nats needs ports/);
    });
  });

  describe('tenancy', () => {
    it('names no tenant by default: the gateway gets no tenant and no Execution access', () => {
      const gateway = envOf(objects, 'mcp-v8-gateway');
      expect(gateway.MCP_V8_TENANTS).toBeUndefined();
      expect(gateway.MCP_V8_TENANT_NAMESPACE_LABELS).toBeUndefined();
      expect(boundRoles(objects, 'mcp-v8-gateway')).toEqual([
        'ClusterRoleBinding/mcp-v8-gateway-tokenreview',
      ]);
      // kubectl-created Executions: wherever Kubernetes RBAC let someone create one.
      expect(boundRoles(objects, 'mcp-v8-controller')).toEqual([
        'ClusterRoleBinding/mcp-v8-controller',
        'RoleBinding/mcp-v8-controller',
      ]);
    });

    it('names tenants by namespace labels: the gateway checks them, Execution access is cluster-wide', async () => {
      const rendered = await render(
        ...['--set-json', `tenantNamespaceSelector=${SELECTOR}`],
        ...['--set', 'tenants[0].namespace=team-a'],
      );
      const gateway = envOf(rendered, 'mcp-v8-gateway');
      expect(JSON.parse(gateway.MCP_V8_TENANT_NAMESPACE_LABELS!)).toEqual({ 'mcpv8.dev/tenant': 'true' });
      expect(JSON.parse(gateway.MCP_V8_TENANTS!)).toEqual([{ namespace: 'team-a' }]);
      // The controller must see labelled namespaces too, not just the listed one.
      expect(envOf(rendered, 'mcp-v8-controller').MCP_V8_TENANTS).toBeUndefined();
      expect(boundRoles(rendered, 'mcp-v8-gateway')).toEqual([
        'ClusterRoleBinding/mcp-v8-gateway',
        'ClusterRoleBinding/mcp-v8-gateway-namespaces',
        'ClusterRoleBinding/mcp-v8-gateway-tokenreview',
      ]);
      const reader = rendered.find(
        (o) => o.kind === 'ClusterRole' && o.metadata.name === 'mcp-v8-gateway-namespaces',
      )!;
      expect(reader.rules).toEqual([{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }]);
      for (const obj of rendered.filter((o) => o.metadata.name.startsWith('mcp-v8-gateway-namespaces'))) {
        expect((await dryRunApply(obj)).status).toBeLessThan(300);
      }
      await expect(render('--set-json', 'tenantNamespaceSelector={"matchExpressions":[]}')).rejects.toThrow(
        /only matchLabels/,
      );
    });
  });

  describe('PodSecurity of the release namespace, checked at install', () => {
    /** `helm install --dry-run=server` (lookups answered by the apiserver); resolves with the notes. */
    const install = async (namespace: string, ...set: string[]) => {
      const release = `psa-${randomBytes(2).toString('hex')}`;
      const out = await helmRun(
        ...['install', release, chartDir, '--namespace', namespace, '--dry-run=server'],
        ...['--kubeconfig', kube.kubeconfig, ...set],
      );
      return out.slice(out.indexOf('NOTES:'));
    };

    it('installs into a namespace that enforces restricted, and warns when no tenant is named', async () => {
      const notes = await install(ns);
      expect(notes).toContain('no tenant is named');
      expect(notes).not.toContain('PodSecurity');
    });

    it('refuses a namespace that does not enforce restricted, unless told to only warn', async () => {
      const loose = `${ns}-loose`;
      expect((await api('POST', '/api/v1/namespaces', { body: { metadata: { name: loose } } })).status).toBe(
        201,
      );
      try {
        await expect(install(loose)).rejects.toThrow(
          new RegExp(
            `namespace ${loose} does not enforce PodSecurity "restricted".*kubectl label namespace ${loose}`,
          ),
        );
        const notes = await install(loose, '--set', 'podSecurity.requireRestricted=false');
        expect(notes).toContain(`namespace ${loose} does not enforce PodSecurity "restricted"`);
      } finally {
        await api('DELETE', `/api/v1/namespaces/${loose}`);
      }
    });
  });
});
