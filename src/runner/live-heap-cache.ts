/**
 * The runner's live heaps: after a stateful cell completes, its isolate is kept under the heap id
 * it produced, so the session's next cell runs there with no replay. Bounded in count, in idle
 * time, and in the memory the isolates hold together — their V8 heaps, the ArrayBuffers
 * isolated-vm allocated for them, and the WebAssembly memories and resizable buffers their
 * contexts hold outside both (least recently used goes first). And, as a backstop for memory no
 * count sees, in the process's resident size: above `maxRssBytes` live isolates are disposed,
 * oldest first, so a cell that starts next finds room instead of the supervisor killing the
 * runner over memory the idle sessions hold. An entry is taken out while a cell runs in it and
 * only a completed cell puts an isolate back (under its new heap), so a failed cell invalidates it.
 */
import type { HeapId } from '../core/index.ts';
import type { Sandbox } from './sandbox/sandbox.ts';

export interface LiveHeapCacheOptions {
  /** Isolates kept at most (0 disables the cache). */
  maxEntries: number;
  /**
   * Memory the kept isolates may hold together, bytes (as measured when each was put): V8 heap
   * committed, isolated-vm's ArrayBuffers, WebAssembly memories and resizable buffers. Many
   * small sessions fit; a few large ones do not push the runner past its memory cap.
   */
  maxBytes: number;
  /** An isolate unused this long is disposed. */
  idleMs: number;
  /**
   * Resident size of the process above which live isolates are disposed, least recently used
   * first, until it is below again (checked on put and take and every `rssCheckMs` while any is
   * kept). 0: no such guard.
   */
  maxRssBytes?: number;
  /** How often the resident size is checked while isolates are kept, ms. */
  rssCheckMs?: number;
  /** The process's resident size now (tests replace it). */
  rss?: () => number;
}

export const DEFAULT_RSS_CHECK_MS = 250;

interface Entry {
  sandbox: Sandbox;
  idle: NodeJS.Timeout;
  bytes: number;
}

export class LiveHeapCache {
  readonly #opts: LiveHeapCacheOptions;
  readonly #rss: () => number;
  /** Insertion order is recency order: a Map iterates oldest first. */
  readonly #entries = new Map<HeapId, Entry>();
  #bytes = 0;
  #evictedForRss = 0;
  #rssTimer: NodeJS.Timeout | undefined;

  constructor(opts: LiveHeapCacheOptions) {
    this.#opts = opts;
    this.#rss = opts.rss ?? (() => process.memoryUsage.rss());
  }

  /** Takes the isolate holding `heap` if it runs with `heapMb`; the caller now owns it. */
  take(heap: HeapId, effectiveHeapMb: number): Sandbox | undefined {
    const e = this.#entries.get(heap);
    if (!e || e.sandbox.effectiveHeapMb !== effectiveHeapMb) {
      this.relieve();
      return undefined;
    }
    this.#entries.delete(heap);
    this.#bytes -= e.bytes;
    clearTimeout(e.idle);
    this.relieve();
    if (e.sandbox.disposed) return undefined;
    return e.sandbox;
  }

  /** Keeps `sandbox` as the live state of `heap`, evicting the least recently used beyond the bounds. */
  put(heap: HeapId, sandbox: Sandbox): void {
    if (this.#opts.maxEntries <= 0) return sandbox.dispose();
    this.#drop(heap);
    const bytes = measure(sandbox);
    // What cannot be measured (the isolate stopped answering) cannot be budgeted: not kept.
    if (bytes === undefined) return sandbox.dispose();
    const idle = setTimeout(() => this.#drop(heap), this.#opts.idleMs);
    idle.unref();
    this.#entries.set(heap, { sandbox, idle, bytes });
    this.#bytes += bytes;
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#opts.maxEntries && this.#bytes <= this.#opts.maxBytes) break;
      this.#drop(oldest);
    }
    this.relieve();
    this.#watchRss();
  }

  /**
   * Disposes live isolates, least recently used first, while the process's resident size is
   * above `maxRssBytes`; returns how many went. Synchronous disposal: the memory is back when
   * this returns (call it before starting a cell).
   */
  relieve(): number {
    const max = this.#opts.maxRssBytes ?? 0;
    if (max <= 0 || this.#entries.size === 0 || this.#rss() <= max) return 0;
    let evicted = 0;
    for (const oldest of [...this.#entries.keys()]) {
      this.#drop(oldest, true);
      evicted++;
      if (this.#rss() <= max) break;
    }
    this.#evictedForRss += evicted;
    return evicted;
  }

  /** Isolates kept now, the memory they hold (bytes), and how many the RSS guard disposed so far. */
  get size(): { entries: number; bytes: number; evictedForRss: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, evictedForRss: this.#evictedForRss };
  }

  close(): void {
    clearInterval(this.#rssTimer);
    this.#rssTimer = undefined;
    for (const heap of [...this.#entries.keys()]) this.#drop(heap);
  }

  /** Checks the resident size periodically while anything is kept and the guard is on. */
  #watchRss(): void {
    if (this.#rssTimer || !(this.#opts.maxRssBytes && this.#opts.maxRssBytes > 0)) return;
    this.#rssTimer = setInterval(() => {
      this.relieve();
      if (this.#entries.size === 0) {
        clearInterval(this.#rssTimer);
        this.#rssTimer = undefined;
      }
    }, this.#opts.rssCheckMs ?? DEFAULT_RSS_CHECK_MS);
    this.#rssTimer.unref();
  }

  #drop(heap: HeapId, now = false): void {
    const e = this.#entries.get(heap);
    if (!e) return;
    this.#entries.delete(heap);
    this.#bytes -= e.bytes;
    clearTimeout(e.idle);
    // Disposing takes milliseconds: not on the path of the execution that caused the eviction,
    // unless memory is short right now.
    if (now) e.sandbox.dispose();
    else setImmediate(() => e.sandbox.dispose());
  }
}

/** Everything `sandbox` holds (see LiveHeapCacheOptions.maxBytes), or undefined if it does not answer. */
function measure(sandbox: Sandbox): number | undefined {
  try {
    return sandbox.host.memoryBytes() + sandbox.offHeapBytes();
  } catch {
    return undefined;
  }
}
