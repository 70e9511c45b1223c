/** The embedded {@link TenantStores}: one tenant, one set of stores. */
import { Mcpv8Error, type HeapStore, type OutputLog } from '../core/index.ts';
import type { SessionStores, TenantStores } from '../core/tenant-stores.ts';

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
