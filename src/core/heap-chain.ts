/**
 * Loads a heap's chain — the heap and its ancestors, root first — which is what a runner replays
 * when the heap is not live anywhere. Nodes are content-addressed and immutable, so decoded ones
 * are kept in a bounded in-memory cache: resuming a long session re-reads only what is new.
 */
import type { HeapId } from './api/heap-id.ts';
import { Mcpv8Error, isMcpv8Error } from './errors.ts';
import type { HeapNode, HeapStore } from './heap.ts';

export interface HeapChainOptions {
  /** Longest chain (cells in a session history) accepted. */
  maxDepth: number;
  /** Decoded nodes kept in memory. */
  cacheEntries: number;
}

export const DEFAULT_HEAP_CHAIN_OPTIONS: HeapChainOptions = { maxDepth: 10_000, cacheEntries: 20_000 };

export class HeapChainLoader {
  readonly #store: HeapStore;
  readonly #opts: HeapChainOptions;
  readonly #nodes = new Map<HeapId, HeapNode>();

  constructor(store: HeapStore, opts: Partial<HeapChainOptions> = {}) {
    this.#store = store;
    this.#opts = { ...DEFAULT_HEAP_CHAIN_OPTIONS, ...opts };
  }

  /**
   * The chain ending at `id`, root first.
   * @throws Mcpv8Error HEAP_NOT_FOUND (the heap), HEAP_CORRUPT (a node, or a missing ancestor,
   *   or a chain longer than `maxDepth`), HEAP_STORE_UNAVAILABLE.
   */
  async load(id: HeapId, signal?: AbortSignal): Promise<Array<{ id: HeapId; node: HeapNode }>> {
    const chain: Array<{ id: HeapId; node: HeapNode }> = [];
    for (let at: HeapId | null = id; at !== null;) {
      if (chain.length >= this.#opts.maxDepth) {
        throw new Mcpv8Error('MCPV8_ERR_HEAP_CORRUPT', [
          id,
          `its history is longer than ${this.#opts.maxDepth} cells`,
        ]);
      }
      const node = await this.#get(at, at === id, signal);
      chain.push({ id: at, node });
      at = node.parent;
    }
    return chain.reverse();
  }

  /** Notes a node just committed, so resuming from it needs no store read. */
  remember(id: HeapId, node: HeapNode): void {
    this.#nodes.delete(id);
    this.#nodes.set(id, node);
    for (const oldest of this.#nodes.keys()) {
      if (this.#nodes.size <= this.#opts.cacheEntries) break;
      this.#nodes.delete(oldest);
    }
  }

  async #get(id: HeapId, isTarget: boolean, signal?: AbortSignal): Promise<HeapNode> {
    const cached = this.#nodes.get(id);
    if (cached) {
      this.remember(id, cached);
      return cached;
    }
    try {
      const node = await this.#store.get(id, signal);
      this.remember(id, node);
      return node;
    } catch (err) {
      if (!isTarget && isMcpv8Error(err, 'MCPV8_ERR_HEAP_NOT_FOUND')) {
        throw new Mcpv8Error('MCPV8_ERR_HEAP_CORRUPT', [id, 'an ancestor heap is missing from the store'], {
          cause: err,
        });
      }
      throw err;
    }
  }
}
