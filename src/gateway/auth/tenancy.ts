/**
 * Who is a tenant of the cluster gateway. A tenant must be named — a namespace listed in
 * `tenants` (optionally only some of its ServiceAccounts), or a namespace carrying every label of
 * `namespaceLabels` (read from the API server, cached briefly). With neither configured nobody is
 * a tenant and every caller is refused: a ServiceAccount token alone never makes its namespace a
 * tenant, since every namespace of the cluster has ServiceAccounts.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { Mcpv8Error, isMcpv8Error } from '../../core/index.ts';
import { requestOptions, reuseConnections } from '../../cluster/kube-request.ts';

const DnsLabel = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label');

/** One tenant: a namespace, and the ServiceAccounts in it that may call (absent or empty: any). */
export const TenantSchema = z.object({
  namespace: DnsLabel,
  serviceAccounts: z.array(z.string().min(1).max(253)).optional(),
});
export type Tenant = z.infer<typeof TenantSchema>;
export const TenantListSchema = z.array(TenantSchema);

/**
 * Labels a tenant namespace carries, all of them (a `matchLabels` selector). Keys as Kubernetes
 * spells them (`[prefix/]name`), values at most 63 characters.
 */
export const NamespaceLabelsSchema = z.record(
  z
    .string()
    .max(317)
    .regex(
      /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
      'must be a label key',
    ),
  z
    .string()
    .max(63)
    .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a label value'),
);

/** How to name tenants, in the words an operator uses (the error and the start-up log say it). */
export const NAME_TENANTS_HINT =
  'name tenants with --tenants or --tenant-namespace-labels (chart values tenants, tenantNamespaceSelector)';

/** The labels of a namespace; undefined when there is no such namespace. @throws when the API could not be asked */
export type ReadNamespaceLabels = (
  namespace: string,
) => Promise<Readonly<Record<string, string>> | undefined>;

export interface TenancyOptions {
  /** Tenants by name. */
  tenants?: readonly Tenant[];
  /** Namespaces carrying all these labels are tenants too (any of their ServiceAccounts); empty: none. */
  namespaceLabels?: Readonly<Record<string, string>>;
  /** Needed with `namespaceLabels`: reads a namespace's labels (see {@link kubeNamespaceLabels}). */
  readLabels?: ReadNamespaceLabels;
  /** How long a namespace's answer (tenant or not) is trusted, ms (default 30 s). */
  cacheTtlMs?: number;
  /** Most cached namespaces (default 10 000). */
  cacheMax?: number;
  now?: () => number;
}

/** The tenants a gateway serves; {@link Tenancy.admit} says whether a caller is one. */
export class Tenancy {
  /** Listed namespace → its allowed ServiceAccounts (undefined: any). */
  readonly #listed: ReadonlyMap<string, ReadonlySet<string> | undefined>;
  readonly #labels: ReadonlyArray<[string, string]>;
  readonly #readLabels: ReadNamespaceLabels | undefined;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Namespace → whether its labels match (a pending lookup is shared); oldest first. */
  readonly #cache = new Map<string, { matches: Promise<boolean>; expires: number }>();

  constructor(opts: TenancyOptions = {}) {
    this.#listed = new Map(
      (opts.tenants ?? []).map((t) => [
        t.namespace,
        t.serviceAccounts && t.serviceAccounts.length > 0 ? new Set(t.serviceAccounts) : undefined,
      ]),
    );
    // An empty label set would select every namespace, which is exactly "unnamed": not a selector.
    this.#labels = Object.entries(opts.namespaceLabels ?? {});
    if (this.#labels.length > 0 && !opts.readLabels) {
      throw new TypeError('Tenancy: namespaceLabels needs readLabels');
    }
    this.#readLabels = opts.readLabels;
    this.#ttl = opts.cacheTtlMs ?? 30_000;
    this.#max = opts.cacheMax ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** False when no tenant is named: every caller is refused. */
  get configured(): boolean {
    return this.#listed.size > 0 || this.#labels.length > 0;
  }

  /** What is configured, for the start-up log. */
  describe(): { tenants: string[]; namespaceLabels: Record<string, string> } {
    return { tenants: [...this.#listed.keys()], namespaceLabels: Object.fromEntries(this.#labels) };
  }

  /**
   * Resolves when ServiceAccount `account` of `namespace` is a tenant's caller.
   * @throws MCPV8_ERR_AUTH_FORBIDDEN (no tenant is configured, the namespace is no tenant, or the
   *   account is not one the tenant allows), MCPV8_ERR_AUTH_UNAVAILABLE (the namespace's labels
   *   could not be read now)
   */
  async admit(namespace: string, account: string): Promise<void> {
    if (!this.configured) {
      throw new Mcpv8Error('MCPV8_ERR_AUTH_FORBIDDEN', [
        `no tenant is configured on this gateway, so ${namespace} is not one; ${NAME_TENANTS_HINT}`,
      ]);
    }
    if (this.#listed.has(namespace)) {
      const accounts = this.#listed.get(namespace);
      if (accounts && !accounts.has(account)) {
        throw new Mcpv8Error('MCPV8_ERR_AUTH_FORBIDDEN', [
          `ServiceAccount ${account} is not allowed for tenant ${namespace}`,
        ]);
      }
      return;
    }
    if (this.#labels.length > 0 && (await this.#labelsMatch(namespace))) return;
    throw new Mcpv8Error('MCPV8_ERR_AUTH_FORBIDDEN', [`namespace ${namespace} is not a tenant here`]);
  }

  /** Number of cached namespace answers (for tests). */
  get cached(): number {
    return this.#cache.size;
  }

  #labelsMatch(namespace: string): Promise<boolean> {
    const now = this.#now();
    const hit = this.#cache.get(namespace);
    if (hit && hit.expires > now) return hit.matches;
    this.#cache.delete(namespace);
    const matches = this.#lookup(namespace);
    // Map order is insertion order: the first key is the oldest entry.
    while (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value!);
    const entry = { matches, expires: now + this.#ttl };
    this.#cache.set(namespace, entry);
    // A failed lookup is not an answer: the next call asks again.
    matches.catch(() => {
      if (this.#cache.get(namespace) === entry) this.#cache.delete(namespace);
    });
    return matches;
  }

  async #lookup(namespace: string): Promise<boolean> {
    let labels: Readonly<Record<string, string>> | undefined;
    try {
      labels = await this.#readLabels!(namespace);
    } catch (err) {
      if (isMcpv8Error(err)) throw err;
      throw new Mcpv8Error('MCPV8_ERR_AUTH_UNAVAILABLE', [`namespace ${namespace} could not be read`], {
        cause: err,
      });
    }
    return labels !== undefined && this.#labels.every(([k, v]) => labels[k] === v);
  }
}

/** How long one namespace read may take before the caller gets MCPV8_ERR_AUTH_UNAVAILABLE. */
const READ_TIMEOUT_MS = 5_000;

/** Namespace labels through `kubeConfig` (the gateway's own credentials; RBAC: get namespaces). */
export function kubeNamespaceLabels(kubeConfig: KubeConfig): ReadNamespaceLabels {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const connections = reuseConnections();
  return async (name) => {
    try {
      const ns = await api.readNamespace(
        { name },
        requestOptions(connections, { signal: AbortSignal.timeout(READ_TIMEOUT_MS) }),
      );
      return ns.metadata?.labels ?? {};
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
}
