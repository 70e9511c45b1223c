/**
 * Where a tenant's output, heaps, session log and heap tags live. Embedded mode has one tenant
 * (`default`) and one of each; cluster mode opens them per namespace (src/cluster/cluster-tenant-stores.ts; embedded: src/local/single-tenant-stores.ts).
 * The services resolve stores through this interface on every call, so the same code serves both.
 */
import type { HeapStore } from './heap.ts';
import type { OutputLog } from './execution-store.ts';
import type { HeapTagStore, SessionLog } from './session-log.ts';

/** A tenant's session log and heap tags. */
export interface SessionStores {
  log: SessionLog;
  tags: HeapTagStore;
}

export interface TenantStores {
  /** True when heaps are kept (stateful mode: heap, session and tags are accepted). */
  readonly stateful: boolean;
  /** Console output of the namespace's executions, keyed by execution id. */
  output(namespace: string): Promise<OutputLog>;
  /** The namespace's heaps; undefined in stateless mode. */
  heaps(namespace: string): HeapStore | undefined;
  /** The namespace's session log and tags; undefined when sessions are not kept. */
  sessions(namespace: string): Promise<SessionStores | undefined>;
}
