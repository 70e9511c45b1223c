/**
 * The runner's live heaps: after a stateful cell completes, its isolate is kept under the heap id
 * it produced, so the session's next cell runs there with no replay. Bounded in count and in the
 * V8 heap the isolates hold (least recently used goes first), and in idle time; an entry is taken out while a cell runs in it and only
 * a completed cell puts an isolate back (under its new heap), so a failed cell invalidates it.
 */
import type { HeapId } from '../core/index.ts';
import type { Sandbox } from './sandbox/sandbox.ts';

export interface LiveHeapCacheOptions {
  /** Isolates kept at most (0 disables the cache). */
  maxEntries: number;
  /**
   * V8 heap the kept isolates may hold together, bytes (as committed when each was put): many
   * small sessions fit, a few large ones do not push the runner past its memory cap.
   */
  maxBytes: number;
  /** An isolate unused this long is disposed. */
  idleMs: number;
}

interface Entry {
  sandbox: Sandbox;
  idle: NodeJS.Timeout;
  bytes: number;
}

export class LiveHeapCache {
  readonly #opts: LiveHeapCacheOptions;
  /** Insertion order is recency order: a Map iterates oldest first. */
  readonly #entries = new Map<HeapId, Entry>();
  #bytes = 0;

  constructor(opts: LiveHeapCacheOptions) {
    this.#opts = opts;
  }

  /** Takes the isolate holding `heap` if it runs with `heapMb`; the caller now owns it. */
  take(heap: HeapId, effectiveHeapMb: number): Sandbox | undefined {
    const e = this.#entries.get(heap);
    if (!e || e.sandbox.effectiveHeapMb !== effectiveHeapMb) return undefined;
    this.#entries.delete(heap);
    this.#bytes -= e.bytes;
    clearTimeout(e.idle);
    if (e.sandbox.disposed) return undefined;
    return e.sandbox;
  }

  /** Keeps `sandbox` as the live state of `heap`, evicting the least recently used beyond the bounds. */
  put(heap: HeapId, sandbox: Sandbox): void {
    if (this.#opts.maxEntries <= 0) return sandbox.dispose();
    this.#drop(heap);
    const idle = setTimeout(() => this.#drop(heap), this.#opts.idleMs);
    idle.unref();
    const bytes = sandbox.host.heapCommittedBytes();
    this.#entries.set(heap, { sandbox, idle, bytes });
    this.#bytes += bytes;
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#opts.maxEntries && this.#bytes <= this.#opts.maxBytes) break;
      this.#drop(oldest);
    }
  }

  /** Isolates kept now, and the V8 heap they hold (bytes). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  close(): void {
    for (const heap of [...this.#entries.keys()]) this.#drop(heap);
  }

  #drop(heap: HeapId): void {
    const e = this.#entries.get(heap);
    if (!e) return;
    this.#entries.delete(heap);
    this.#bytes -= e.bytes;
    clearTimeout(e.idle);
    // Disposing takes milliseconds: not on the path of the execution that caused the eviction.
    setImmediate(() => e.sandbox.dispose());
  }
}
