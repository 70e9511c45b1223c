/**
 * Cluster mode's {@link TenantStores}: each namespace has its own output subjects
 * (`JetStreamOutputLog` opened with the namespace), heaps under its own S3 prefix
 * (`TenantHeapStores`), and its own KV buckets `MCPV8_SESSIONS_<ns>` / `MCPV8_TAGS_<ns>` — so one
 * tenant can neither read nor probe another's. Stores are opened on first use and kept.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { HeapStore, OutputLog } from '../core/index.ts';
import { Mcpv8Error } from '../core/index.ts';
import { JetStreamOutputLog } from './jetstream-output-log.ts';
import { KvHeapTagStore } from './kv-heap-tags.ts';
import { KvSessionLog } from './kv-session-log.ts';
import type { TenantHeapStores } from './tenant-heap-stores.ts';
import type { SessionStores, TenantStores } from '../core/tenant-stores.ts';

/** The KV bucket of a namespace's session log (a DNS label is a valid bucket-name suffix). */
export const sessionBucket = (namespace: string): string => `MCPV8_SESSIONS_${namespace}`;
/** The KV bucket of a namespace's heap tags. */
export const tagBucket = (namespace: string): string => `MCPV8_TAGS_${namespace}`;

/** Namespaces kept open at once; beyond it the caches start over (a bound, not a working set). */
const MAX_TENANTS = 10_000;

export interface ClusterTenantStoresOptions {
  nc: NatsConnection;
  /** Heaps per namespace; absent: stateless (no heaps, sessions or tags). */
  heaps?: TenantHeapStores;
  /** Stream replicas for buckets and streams this process creates (default 1). */
  replicas?: number;
}

export class ClusterTenantStores implements TenantStores {
  readonly #opts: ClusterTenantStoresOptions;
  readonly #outputs = new Map<string, Promise<OutputLog>>();
  readonly #sessions = new Map<string, Promise<SessionStores>>();

  constructor(opts: ClusterTenantStoresOptions) {
    this.#opts = opts;
  }

  get stateful(): boolean {
    return this.#opts.heaps !== undefined;
  }

  output(namespace: string): Promise<OutputLog> {
    assertNamespace(namespace);
    const { nc, replicas } = this.#opts;
    return cached(this.#outputs, namespace, () =>
      JetStreamOutputLog.open(nc, { namespace, ...(replicas !== undefined && { replicas }) }),
    );
  }

  heaps(namespace: string): HeapStore | undefined {
    assertNamespace(namespace);
    return this.#opts.heaps?.forNamespace(namespace);
  }

  async sessions(namespace: string): Promise<SessionStores | undefined> {
    assertNamespace(namespace);
    if (!this.stateful) return undefined;
    const { nc, replicas } = this.#opts;
    const r = replicas !== undefined ? { replicas } : {};
    return cached(this.#sessions, namespace, async () => {
      const [log, tags] = await Promise.all([
        KvSessionLog.open(nc, { bucket: sessionBucket(namespace), ...r }),
        KvHeapTagStore.open(nc, { bucket: tagBucket(namespace), ...r }),
      ]);
      return { log, tags };
    });
  }
}

/** The cached promise for `key`, made by `open` when absent; a failed open is forgotten (retried next time). */
function cached<T>(map: Map<string, Promise<T>>, key: string, open: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (p === undefined) {
    if (map.size >= MAX_TENANTS) map.clear();
    p = open();
    map.set(key, p);
    p.catch(() => {
      if (map.get(key) === p) map.delete(key);
    });
  }
  return p;
}

/** Namespaces come from authentication; this keeps anything else out of bucket and subject names. */
function assertNamespace(namespace: string): void {
  if (namespace.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `namespace "${namespace.slice(0, 80)}" is not a DNS label`,
    ]);
  }
}
