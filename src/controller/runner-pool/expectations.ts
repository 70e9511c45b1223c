/**
 * Creations and deletions a controller has asked for but its cache has not shown yet
 * (controller-runtime's / client-go's ControllerExpectations, kept per pod name). The cache lags
 * the API server: without this, a reconcile right after creating N pods would see none of them
 * and create N more. An expectation is settled when the informer shows the change, when the
 * request fails, or when it expires (a lost watch event must not block the pool for good).
 */

/** Options of {@link Expectations}. */
export interface ExpectationsOptions {
  /** An unsettled expectation is dropped after this long, ms (default 60 000). */
  ttlMs?: number;
  /** Clock, ms (tests). */
  now?: () => number;
}

interface Pending {
  /** Pod name → when it was expected. */
  creates: Map<string, number>;
  deletes: Map<string, number>;
}

/** Per key (a pool's `namespace/name`): pod names expected to appear or to disappear. */
export class Expectations {
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #byKey = new Map<string, Pending>();

  constructor(opts: ExpectationsOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Call before asking the API server to create pod `name`. */
  expectCreate(key: string, name: string): void {
    this.#pending(key).creates.set(name, this.#now());
  }

  /** Call before asking the API server to delete pod `name`. */
  expectDelete(key: string, name: string): void {
    this.#pending(key).deletes.set(name, this.#now());
  }

  /** The cache shows pod `name` (informer ADD), or its create failed: no longer pending. */
  creationObserved(key: string, name: string): void {
    this.#settle(key, 'creates', name);
  }

  /** The cache no longer shows pod `name` (informer DELETE), or its delete failed. */
  deletionObserved(key: string, name: string): void {
    this.#settle(key, 'deletes', name);
  }

  /** Pod names whose creation is still pending (expired ones are dropped). */
  pendingCreates(key: string): ReadonlySet<string> {
    return this.#live(key, 'creates');
  }

  /** Pod names whose deletion is still pending (expired ones are dropped). */
  pendingDeletes(key: string): ReadonlySet<string> {
    return this.#live(key, 'deletes');
  }

  /** Ms until the earliest pending expectation of `key` expires; undefined when none is pending. */
  nextExpiryMs(key: string): number | undefined {
    const pending = this.#byKey.get(key);
    if (!pending) return undefined;
    let earliest: number | undefined;
    for (const at of [...pending.creates.values(), ...pending.deletes.values()]) {
      earliest = earliest === undefined ? at : Math.min(earliest, at);
    }
    return earliest === undefined ? undefined : Math.max(0, earliest + this.#ttlMs - this.#now());
  }

  /** Drops everything about `key` (its object is gone). */
  forget(key: string): void {
    this.#byKey.delete(key);
  }

  #pending(key: string): Pending {
    let pending = this.#byKey.get(key);
    if (!pending) {
      pending = { creates: new Map(), deletes: new Map() };
      this.#byKey.set(key, pending);
    }
    return pending;
  }

  #settle(key: string, kind: keyof Pending, name: string): void {
    const pending = this.#byKey.get(key);
    if (!pending) return;
    pending[kind].delete(name);
    if (pending.creates.size === 0 && pending.deletes.size === 0) this.#byKey.delete(key);
  }

  #live(key: string, kind: keyof Pending): ReadonlySet<string> {
    const pending = this.#byKey.get(key);
    if (!pending) return new Set();
    const cutoff = this.#now() - this.#ttlMs;
    for (const [name, at] of pending[kind]) if (at <= cutoff) this.#settle(key, kind, name);
    return new Set(pending[kind].keys());
  }
}
