/**
 * Where a tenant's output, heaps, session log and heap tags live. Embedded mode has one tenant
 * (`default`) and one of each; cluster mode opens them per namespace (cluster-tenant-stores.ts).
 * The services resolve stores through this interface on every call, so the same code serves both.
 */
import {
  Mcpv8Error,
  type HeapStore,
  type HeapTagStore,
  type OutputLog,
  type SessionLog,
} from '../core/index.ts';

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

/** Embedded mode: one set of stores, whatever the namespace (every caller is `default`). */
export class SingleTenantStores implements TenantStores {
  readonly #output: OutputLog | undefined;
  readonly #heaps: HeapStore | undefined;
  readonly #sessions: SessionStores | undefined;

  /** `output` may be left out by a user that never reads output (the SessionService). */
  constructor(opts: { output?: OutputLog; heaps?: HeapStore; sessions?: SessionStores }) {
    this.#output = opts.output;
    this.#heaps = opts.heaps;
    this.#sessions = opts.sessions;
  }

  get stateful(): boolean {
    return this.#heaps !== undefined;
  }

  output(): Promise<OutputLog> {
    if (!this.#output) return Promise.reject(new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', ['no output log']));
    return Promise.resolve(this.#output);
  }

  heaps(): HeapStore | undefined {
    return this.#heaps;
  }

  sessions(): Promise<SessionStores | undefined> {
    return Promise.resolve(this.#sessions);
  }
}
