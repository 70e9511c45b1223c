/**
 * Container environment resolved the way a kubelet does it, for pods the tests run as local
 * processes: literal values with `$(VAR)` expansion, `fieldRef`, `resourceFieldRef`,
 * `secretKeyRef` and `configMapKeyRef` (read as admin), and `envFrom`.
 */
import { cpus, totalmem } from 'node:os';
import { kubeApi } from './kube-api.ts';
import type { KubeEndpoint } from './kube.ts';

/** The parts of a container env entry this resolver understands (client-node's V1EnvVar fits). */
export interface EnvVarSpec {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { resource: string; divisor?: unknown };
    secretKeyRef?: { name?: string; key: string; optional?: boolean };
    configMapKeyRef?: { name?: string; key: string; optional?: boolean };
  };
}

export interface EnvFromSpec {
  prefix?: string;
  secretRef?: { name?: string; optional?: boolean };
  configMapRef?: { name?: string; optional?: boolean };
}

/** What `fieldRef` and `resourceFieldRef` read: the pod as it runs (after binding). */
export interface PodFields {
  name: string;
  namespace: string;
  uid?: string;
  nodeName?: string;
  serviceAccountName?: string;
  podIP?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The container's resource limits/requests, e.g. `{ 'limits.memory': '256Mi' }`. */
  resources?: Record<string, string>;
}

/** Thrown when a reference cannot be resolved (a real kubelet reports CreateContainerConfigError). */
export class PodEnvError extends Error {
  override readonly name = 'PodEnvError';
}

/** Resolves a container's `envFrom` then `env` (later entries win, as in a kubelet). */
export async function resolvePodEnv(
  kube: KubeEndpoint,
  fields: PodFields,
  env: readonly EnvVarSpec[] = [],
  envFrom: readonly EnvFromSpec[] = [],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const from of envFrom) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref?.name) continue;
    const data = await readData(kube, fields.namespace, from.secretRef ? 'secrets' : 'configmaps', ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new PodEnvError(`envFrom: ${ref.name} not found in ${fields.namespace}`);
    }
    for (const [k, v] of Object.entries(data)) out[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of env) {
    const value = await resolveOne(kube, fields, e, out);
    if (value !== undefined) out[e.name] = value;
  }
  return out;
}

/** Expands `$(NAME)` from `vars` (unknown names stay as written; `$$` escapes), as a kubelet does. */
export function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) =>
    match === '$$' ? '$' : (vars[name!] ?? match),
  );
}

async function resolveOne(
  kube: KubeEndpoint,
  fields: PodFields,
  e: EnvVarSpec,
  soFar: Record<string, string>,
): Promise<string | undefined> {
  const from = e.valueFrom;
  if (!from) return expandVars(e.value ?? '', soFar);
  if (from.fieldRef) return fieldValue(fields, from.fieldRef.fieldPath);
  if (from.resourceFieldRef) return resourceValue(fields, from.resourceFieldRef.resource);
  const ref = from.secretKeyRef ?? from.configMapKeyRef;
  if (!ref) throw new PodEnvError(`env ${e.name}: unsupported valueFrom`);
  const kind = from.secretKeyRef ? 'secrets' : 'configmaps';
  const data = ref.name ? await readData(kube, fields.namespace, kind, ref.name) : undefined;
  const value = data?.[ref.key];
  if (value === undefined && !ref.optional) {
    throw new PodEnvError(`env ${e.name}: key ${ref.key} of ${kind}/${ref.name} not found`);
  }
  return value;
}

function fieldValue(f: PodFields, path: string): string {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (label) return (label[1] === 'labels' ? f.labels : f.annotations)?.[label[2]!] ?? '';
  const values: Record<string, string | undefined> = {
    'metadata.name': f.name,
    'metadata.namespace': f.namespace,
    'metadata.uid': f.uid,
    'spec.nodeName': f.nodeName,
    'spec.serviceAccountName': f.serviceAccountName,
    'status.podIP': f.podIP,
    'status.podIPs': f.podIP,
    'status.hostIP': f.podIP,
    'status.hostIPs': f.podIP,
  };
  if (!(path in values)) throw new PodEnvError(`fieldRef ${path} is not supported`);
  return values[path] ?? '';
}

/** Limits in base units (bytes, whole cores rounded up); no limit: the machine's capacity. */
function resourceValue(f: PodFields, resource: string): string {
  const q = f.resources?.[resource] ?? f.resources?.[resource.replace('requests.', 'limits.')];
  if (resource.endsWith('.cpu')) return String(q ? Math.ceil(parseQuantity(q)) : cpus().length);
  if (resource.endsWith('.memory') || resource.endsWith('.ephemeral-storage')) {
    return String(q ? Math.round(parseQuantity(q)) : totalmem());
  }
  throw new PodEnvError(`resourceFieldRef ${resource} is not supported`);
}

const SUFFIX: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

function parseQuantity(q: string): number {
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new PodEnvError(`quantity ${q} is not understood`);
  return Number(m[1]) * SUFFIX[m[2] ?? '']!;
}

/** A Secret's (decoded) or ConfigMap's data, or undefined when the object does not exist. */
async function readData(
  kube: KubeEndpoint,
  namespace: string,
  kind: 'secrets' | 'configmaps',
  name: string,
): Promise<Record<string, string> | undefined> {
  const res = await kubeApi<{ data?: Record<string, string> }>(
    kube,
    'GET',
    `/api/v1/namespaces/${namespace}/${kind}/${name}`,
  );
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new PodEnvError(`reading ${kind}/${name}: HTTP ${res.status}`);
  const data = res.body.data ?? {};
  if (kind === 'configmaps') return data;
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}
