/**
 * Installs charts/mcp-v8 into the harness control plane the way `helm install` would, minus
 * what cannot run there: the chart is rendered with `helm template`, its CRDs and objects are
 * server-side applied as admin, but the Deployments (no scheduler or kubelet; tests run the
 * controller and gateway as local processes) and the ServiceMonitor (no Prometheus Operator
 * CRDs) are left out. The result carries what a local process needs to act as each component:
 * a TokenRequest token of its ServiceAccount, a KubeConfig with it, and the rendered env.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { tokenKubeConfig } from './kube-config.ts';
import { applyCrdYaml, kubeApi } from './kube-api.ts';
import type { KubeEndpoint } from './kube.ts';
import { resolvePodEnv, type EnvVarSpec } from './pod-env.ts';
import { POD_IP } from './pod-status.ts';
import type { ServiceEndpoints } from './services.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
export const CHART_DIR = join(root, 'charts/mcp-v8');
const FIELD_MANAGER = 'mcpv8-chart-install';
/** Kinds rendered but not applied (see the module comment). */
const SKIPPED_KINDS = new Set(['Deployment', 'ServiceMonitor']);

/** A rendered manifest. */
export interface ChartObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export interface ChartInstallOptions {
  /** Release namespace (created when missing). */
  namespace: string;
  /**
   * Release name (default: the namespace). ClusterRoles and ClusterRoleBindings are named after
   * it, so installs sharing one apiserver need distinct names.
   */
  release?: string;
  /** Chart values (deep-merged over the connection values from `services`). */
  values?: Record<string, unknown>;
  /**
   * Point the connection values at the harness services: nats.url, s3 (endpoint, region, path
   * style, bucket `s3Bucket`, keys in a Secret created in the release namespace), policy.opaUrl.
   */
  services?: ServiceEndpoints;
  s3Bucket?: string;
}

/** What a local process needs to act as one chart component. */
export interface ComponentAccess {
  serviceAccount: string;
  /** Bearer token of the ServiceAccount (TokenRequest API, 1 h). */
  token: string;
  /** A KubeConfig with that token against the harness apiserver. */
  kubeConfig: KubeConfig;
  /** The Deployment container's rendered `env` list. */
  env: EnvVarSpec[];
  /** The Deployment container's rendered `args` (e.g. `['controller']`). */
  args: string[];
  /** The env resolved as a kubelet would for a pod named `podName` (secrets read as admin). */
  resolveEnv(podName?: string): Promise<Record<string, string>>;
}

export interface ChartInstall {
  namespace: string;
  release: string;
  /** Prefix of the chart's object names, e.g. `<release>-mcp-v8`. */
  fullname: string;
  /** Every rendered object (applied or not). */
  objects: ChartObject[];
  controller: ComponentAccess;
  gateway: ComponentAccess;
  /** Creates `namespace` and its ServiceAccount when missing and returns a token of it. */
  tenantToken(namespace: string, serviceAccount: string): Promise<string>;
  /** Deletes the namespaces it created (pods first, at once) and its cluster-scoped objects. */
  uninstall(): Promise<void>;
}

/** The cached helm binary (scripts/services/install-helm.sh), or why there is none. */
export async function findHelm(): Promise<{ helm?: string; reason?: string }> {
  try {
    const { stdout } = await run('bash', [join(root, 'scripts/services/install-helm.sh')], {
      timeout: 30 * 60 * 1000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const helm = /^HELM=(.+)$/m.exec(stdout)?.[1];
    return helm ? { helm } : { reason: 'install-helm.sh printed no HELM= line' };
  } catch (err) {
    return { reason: `helm could not be built: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** `helm template` of the chart for a release; values are passed as a file. */
export async function renderChart(
  helm: string,
  release: string,
  namespace: string,
  values: Record<string, unknown>,
): Promise<ChartObject[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpv8-chart-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const { stdout } = await run(
      helm,
      ['template', release, CHART_DIR, '--namespace', namespace, '-f', file],
      {
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    return parseAllDocuments(stdout)
      .map((d) => d.toJS() as ChartObject | null)
      .filter((o): o is ChartObject => o !== null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Renders and applies the chart (see the module comment); needs helm (see {@link findHelm}). */
export async function installChart(kube: KubeEndpoint, opts: ChartInstallOptions): Promise<ChartInstall> {
  const { helm, reason } = await findHelm();
  if (!helm) throw new Error(`installChart: no helm: ${reason}`);
  const ns = opts.namespace;
  const release = opts.release ?? ns;
  const admin = (method: string, path: string, body?: unknown) => kubeApi(kube, method, path, { body });
  const createdNamespaces = new Set<string>();
  const ensureNamespace = async (name: string) => {
    const res = await admin('POST', '/api/v1/namespaces', { metadata: { name } });
    if (res.status === 201) createdNamespaces.add(name);
    else if (res.status !== 409)
      throw new Error(`namespace ${name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  };

  const values = deepMerge(
    await connectionValues(kube, ns, release, opts, ensureNamespace),
    opts.values ?? {},
  );
  const objects = await renderChart(helm, release, ns, values);
  const fullname = objects
    .find((o) => o.kind === 'ServiceAccount')!
    .metadata.name.replace(/-(gateway|controller|runner)$/, '');

  await ensureNamespace(ns);
  for (const t of (values.tenants as { namespace: string }[] | undefined) ?? [])
    await ensureNamespace(t.namespace);
  for (const file of readdirSync(join(CHART_DIR, 'crds'))) {
    const text = readFileSync(join(CHART_DIR, 'crds', file), 'utf8');
    const res = await applyCrdYaml(kube, (parseYaml(text) as ChartObject).metadata.name, text, FIELD_MANAGER);
    if (res.status >= 300) throw new Error(`CRD ${file}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
  const applied = objects.filter((o) => !SKIPPED_KINDS.has(o.kind));
  for (const obj of applied) await applyObject(kube, obj, ns);

  const component = async (name: 'controller' | 'gateway'): Promise<ComponentAccess> => {
    const deployment = objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.name === `${fullname}-${name}`,
    );
    const container = (
      deployment?.spec as { template: { spec: { containers: { env?: EnvVarSpec[]; args?: string[] }[] } } }
    ).template.spec.containers[0]!;
    const serviceAccount = `${fullname}-${name}`;
    const token = await requestToken(kube, ns, serviceAccount);
    return {
      serviceAccount,
      token,
      kubeConfig: tokenKubeConfig(kube, token, serviceAccount),
      env: container.env ?? [],
      args: container.args ?? [],
      resolveEnv: (podName = `${serviceAccount}-local`) =>
        resolvePodEnv(
          kube,
          {
            name: podName,
            namespace: ns,
            serviceAccountName: serviceAccount,
            podIP: POD_IP,
            nodeName: 'local',
          },
          container.env ?? [],
        ),
    };
  };

  return {
    namespace: ns,
    release,
    fullname,
    objects,
    controller: await component('controller'),
    gateway: await component('gateway'),
    tenantToken: async (namespace, serviceAccount) => {
      await ensureNamespace(namespace);
      const sa = await admin('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
        metadata: { name: serviceAccount },
      });
      if (sa.status !== 201 && sa.status !== 409)
        throw new Error(`serviceaccount ${serviceAccount}: HTTP ${sa.status}`);
      return requestToken(kube, namespace, serviceAccount);
    },
    uninstall: async () => {
      for (const obj of applied.filter((o) => o.kind.startsWith('Cluster'))) {
        await admin('DELETE', `${await resourcePath(kube, obj, ns)}`);
      }
      for (const name of createdNamespaces) {
        // No kubelet finishes graceful pod deletions here, and they would hold the namespace.
        await admin('DELETE', `/api/v1/namespaces/${name}/pods?gracePeriodSeconds=0`);
        await admin('DELETE', `/api/v1/namespaces/${name}`);
      }
    },
  };
}

/** Values pointing at the harness services, plus the Secret holding the S3 keys. */
async function connectionValues(
  kube: KubeEndpoint,
  ns: string,
  release: string,
  opts: ChartInstallOptions,
  ensureNamespace: (name: string) => Promise<void>,
): Promise<Record<string, unknown>> {
  const { nats, s3, opa } = opts.services ?? {};
  const values: Record<string, unknown> = {};
  if (nats) values.nats = { url: nats.url };
  if (opa) values.policy = { opaUrl: opa.url };
  if (s3) {
    await ensureNamespace(ns);
    const secret = `${release}-s3-credentials`;
    const res = await kubeApi(
      kube,
      'PATCH',
      `/api/v1/namespaces/${ns}/secrets/${secret}?fieldManager=${FIELD_MANAGER}&force=true`,
      {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: secret },
          stringData: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
        },
        contentType: 'application/apply-patch+yaml',
      },
    );
    if (res.status >= 300)
      throw new Error(`secret ${secret}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    values.s3 = {
      bucket: opts.s3Bucket ?? 'mcp-v8-heaps',
      endpoint: s3.url,
      region: s3.region,
      forcePathStyle: true,
      credentialsSecret: { name: secret },
    };
  }
  return values;
}

/** A bearer token of a ServiceAccount from the TokenRequest API. */
export async function requestToken(
  kube: KubeEndpoint,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const res = await kubeApi<{ status?: { token?: string } }>(
    kube,
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const token = res.body.status?.token;
  if (res.status !== 201 || !token) {
    throw new Error(
      `token for ${namespace}/${serviceAccount}: HTTP ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return token;
}

/** Server-side apply as admin; retries while a just-created CRD is not served yet. */
async function applyObject(kube: KubeEndpoint, obj: ChartObject, ns: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    let path: string;
    try {
      path = await resourcePath(kube, obj, ns);
    } catch (err) {
      if (attempt >= 50) throw err;
      await sleep(100);
      continue;
    }
    const res = await kubeApi(kube, 'PATCH', `${path}?fieldManager=${FIELD_MANAGER}&force=true`, {
      body: obj,
      contentType: 'application/apply-patch+yaml',
    });
    if (res.status < 300) return;
    // 404: a CRD not served yet; 429: the apiserver refuses while a CRD is being changed.
    if ((res.status !== 404 && res.status !== 429) || attempt >= 50) {
      throw new Error(`${obj.kind}/${obj.metadata.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    }
    await sleep(100);
  }
}

/** kind → REST path, from discovery (no table of resources to keep up to date). */
async function resourcePath(kube: KubeEndpoint, obj: ChartObject, ns: string): Promise<string> {
  const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const res = await kubeApi<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>(
    kube,
    'GET',
    base,
  );
  const r = res.body.resources?.find((x) => x.kind === obj.kind && !x.name.includes('/'));
  if (!r) throw new Error(`${obj.apiVersion} ${obj.kind} is not served`);
  const nsPart = r.namespaced ? `/namespaces/${obj.metadata.namespace ?? ns}` : '';
  return `${base}${nsPart}/${r.name}/${obj.metadata.name}`;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> =>
      typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isObj(b) && isObj(v) ? deepMerge(b, v) : v;
  }
  return out;
}
