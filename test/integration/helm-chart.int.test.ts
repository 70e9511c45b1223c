// The Helm chart against a real kube-apiserver: `helm lint` passes, and every object that
// `helm template` renders with default values is accepted by a server-side dry run (after the
// chart's CRDs are applied, as Helm does). Also checks what the apiserver cannot: RBAC without
// wildcards, a runner ServiceAccount with no permissions and no token, and pod templates that
// pass PodSecurity "restricted" (dry-run Pods in a namespace that enforces it).
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
type Container = { name: string; securityContext?: Record<string, unknown> };
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

  it('passes helm lint (also with the ServiceMonitor and tenants on)', async () => {
    await helmRun('lint', '--strict', chartDir);
    await helmRun('lint', '--strict', chartDir, '--set', 'serviceMonitor.enabled=true');
    await helmRun('lint', '--strict', chartDir, '--set', 'tenants[0].namespace=team-a');
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
});
