/**
 * The heap side of cluster runs, done by the runner pod itself against the tenant's heap store
 * (`TenantHeapStores.forNamespace`): answering the runner's chain requests and storing the heaps
 * it produces. Nothing crosses tenants: each namespace has its own store and chain cache, and a
 * run may resume a heap only when its own namespace holds it — the runner keeps isolates live by
 * heap id alone, so without that check another tenant knowing an id could resume it from memory.
 */
import {
  Mcpv8Error,
  type ExecutionOutcome,
  type HeapId,
  type HeapNode,
  type HeapStore,
} from '../../core/index.ts';
import { HeapChainLoader } from '../../core/heap-chain.ts';
import { commitHeap, loadChainAnswer, type ChainAnswer } from '../../core/heap-commit.ts';
import type { RunMessage } from '../protocol.ts';

/** Where a namespace's heaps are (TenantHeapStores in the pod). */
export interface NamespaceHeapStores {
  forNamespace(namespace: string): HeapStore;
}

/** (namespace, heap) pairs known to be held, so a resume needs no store round trip. */
const MAX_KNOWN = 10_000;
/** Namespaces with a chain cache kept. */
const MAX_LOADERS = 1000;

/** What a cluster run that cannot start is told: a HeapError message. */
export type Refusal = string;

export class ClusterHeaps {
  readonly #stores: NamespaceHeapStores | undefined;
  readonly #loaders = new Map<string, HeapChainLoader>();
  readonly #known = new Set<string>();

  /** `stores` undefined: no S3 configured, so stateful cluster runs are refused. */
  constructor(stores: NamespaceHeapStores | undefined) {
    this.#stores = stores;
  }

  /**
   * Why `run` (a cluster run of `namespace`) must not start, or undefined: it needs heaps and
   * there is no store, or it resumes a heap its namespace does not hold.
   */
  async refusal(run: RunMessage, namespace: string): Promise<Refusal | undefined> {
    if (!run.persist && run.heap === undefined) return undefined;
    if (!this.#stores) {
      return describe(
        new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
          'sessions need a heap store, and this runner has none (set MCP_V8_S3_BUCKET)',
        ]),
      );
    }
    if (run.heap === undefined || this.#known.has(key(namespace, run.heap))) return undefined;
    try {
      if (await this.#stores.forNamespace(namespace).has(run.heap)) {
        this.#remember(namespace, run.heap);
        return undefined;
      }
      return describe(new Mcpv8Error('MCPV8_ERR_HEAP_NOT_FOUND', [run.heap]));
    } catch (err) {
      return describe(err);
    }
  }

  /** The chain of `heap` from the namespace's store, for the runner to replay; never throws. */
  async chainAnswer(namespace: string, heap: HeapId): Promise<ChainAnswer> {
    return loadChainAnswer(this.#loader(namespace), heap);
  }

  /**
   * Stores the heap a completed stateful run produced in its namespace and returns the outcome
   * to publish: `heapCommitted` when stored, else commitHeap's failed outcome.
   */
  async commit(
    run: RunMessage,
    namespace: string,
    outcome: ExecutionOutcome,
    heapNode: HeapNode | undefined,
  ): Promise<{ outcome: ExecutionOutcome; heapCommitted?: true }> {
    const store = this.#stores?.forNamespace(namespace);
    const result = await commitHeap(run, outcome, heapNode, store, this.#loader(namespace));
    if (result.committed === undefined) return { outcome: result.outcome };
    this.#remember(namespace, result.committed);
    return { outcome: result.outcome, heapCommitted: true };
  }

  #loader(namespace: string): HeapChainLoader | undefined {
    if (!this.#stores) return undefined;
    let loader = this.#loaders.get(namespace);
    if (!loader) {
      if (this.#loaders.size >= MAX_LOADERS) this.#loaders.clear();
      loader = new HeapChainLoader(this.#stores.forNamespace(namespace));
      this.#loaders.set(namespace, loader);
    }
    return loader;
  }

  #remember(namespace: string, heap: HeapId): void {
    if (this.#known.size >= MAX_KNOWN) this.#known.clear();
    this.#known.add(key(namespace, heap));
  }
}

function key(namespace: string, heap: HeapId): string {
  return `${namespace}/${heap}`;
}

/** An error as a HeapError message, with its stable code when it has one. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('MCPV8_ERR_') ? `${message} (${code})` : message;
}
