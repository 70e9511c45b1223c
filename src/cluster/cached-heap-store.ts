/**
 * S3 with a local write-through cache (`--s3-bucket … --cache-dir`): the remote store is the
 * truth, the directory a bounded, least-recently-used copy of it. A put reaches the remote before
 * the cache (a failed put caches nothing); a get is served from a verified local copy when there
 * is one, else from the remote, filling the cache. The cache is best effort: a corrupt or
 * unreadable copy is dropped and refetched, and a failing disk never fails an operation the
 * remote can serve. On start the directory is indexed (oldest modification first), so a restart
 * keeps the cache and its bound.
 */
import {
  assertHeapId,
  encodeHeapNode,
  isMcpv8Error,
  type HeapId,
  type HeapNode,
  type HeapStore,
} from '../core/index.ts';
import { errorCode, heapStoreFailure } from '../core/heap-store-failure.ts';
import { DirHeapStore } from '../local/heap-store.ts';
import { ByteLru } from './byte-lru.ts';

export interface CachedHeapStoreOptions {
  /** Where heaps really live (an S3HeapStore in production). */
  remote: HeapStore;
  /** The cache directory (same layout as DirHeapStore). */
  dir: string;
  /** Bound on the bytes of cached heap files. */
  maxBytes: number;
  /** Told about cache failures, which are otherwise bypassed silently (e.g. to log them). */
  onCacheError?: (err: unknown) => void;
}

/** A remote HeapStore behind a bounded local directory cache. */
export class CachedHeapStore implements HeapStore {
  readonly #remote: HeapStore;
  readonly #local: DirHeapStore;
  readonly #lru: ByteLru;
  readonly #onCacheError: (err: unknown) => void;
  #indexed?: Promise<void>;

  constructor(opts: CachedHeapStoreOptions) {
    this.#remote = opts.remote;
    this.#local = new DirHeapStore(opts.dir);
    this.#lru = new ByteLru(opts.maxBytes);
    this.#onCacheError = opts.onCacheError ?? (() => undefined);
  }

  async put(node: HeapNode, signal?: AbortSignal): Promise<HeapId> {
    const id = await remote(this.#remote.put(node, signal), signal);
    await this.#fill(id, node);
    return id;
  }

  async get(id: string, signal?: AbortSignal): Promise<HeapNode> {
    assertHeapId(id);
    await this.#index();
    if (this.#lru.touch(id)) {
      try {
        return await this.#local.get(id);
      } catch (err) {
        await this.#discard(id, err);
      }
    }
    const node = await remote(this.#remote.get(id, signal), signal);
    await this.#fill(id, node);
    return node;
  }

  async has(id: string, signal?: AbortSignal): Promise<boolean> {
    assertHeapId(id);
    await this.#index();
    return this.#lru.has(id) || remote(this.#remote.has(id, signal), signal);
  }

  /** Indexes what an earlier run left in the directory, once, before the first use. */
  #index(): Promise<void> {
    return (this.#indexed ??= (async () => {
      try {
        const files = await this.#local.list();
        files.sort((a, b) => a.mtimeMs - b.mtimeMs);
        await this.#remove(files.flatMap((f) => this.#lru.add(f.id, f.bytes)));
      } catch (err) {
        this.#onCacheError(err);
      }
    })());
  }

  async #fill(id: HeapId, node: HeapNode): Promise<void> {
    await this.#index();
    if (this.#lru.touch(id)) return;
    const size = encodeHeapNode(node).bytes.length;
    if (size > this.#lru.maxBytes) return;
    try {
      await this.#local.put(node);
    } catch (err) {
      this.#onCacheError(err);
      return;
    }
    await this.#remove(this.#lru.add(id, size));
  }

  /** A local copy that could not be served (missing, corrupt, unreadable) is never kept. */
  async #discard(id: HeapId, err: unknown): Promise<void> {
    this.#lru.delete(id);
    if (!isMcpv8Error(err, 'MCPV8_ERR_HEAP_NOT_FOUND')) this.#onCacheError(err);
    await this.#remove([id]);
  }

  async #remove(ids: readonly HeapId[]): Promise<void> {
    await Promise.all(
      ids.map((id) => this.#local.delete(id).catch((err: unknown) => this.#onCacheError(err))),
    );
  }
}

/** The remote's own errors pass through; anything raw it throws is still a store failure. */
function remote<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  return p.catch((err: unknown) => {
    throw heapStoreFailure(err, `the remote heap store failed (${errorCode(err)})`, signal);
  });
}
