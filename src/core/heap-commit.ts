/**
 * Heap logic shared by every RunnerPool (local child processes, runner pods over NATS): committing
 * the heap a stateful run produced, answering a runner's request for a chain to replay, and
 * remembering which runner holds a heap live so the next cell of a session goes there.
 */
import { FailureReason, type ExecutionOutcome } from './api/execution.ts';
import type { HeapId } from './api/heap-id.ts';
import { cancelledError, endedOutcome, failureError, timedOutError } from './api/outcome.ts';
import type { HeapNode, HeapStore } from './heap.ts';
import { HeapChainLoader } from './heap-chain.ts';
import type { RunRequest } from './runner-pool.ts';

/** Heaps whose holder is remembered, for routing (a runner keeps far fewer live). */
const MAX_ROUTES = 10_000;

/**
 * Stores the heap a completed stateful run produced and returns the final outcome. A heap that
 * cannot be stored (or whose content does not match the id the runner claims) makes the execution
 * fail: the session must not point at nothing. `committed` is set when the heap was stored.
 */
export async function commitHeap(
  req: RunRequest,
  outcome: ExecutionOutcome,
  heapNode: HeapNode | undefined,
  heaps: HeapStore | undefined,
  chains: HeapChainLoader | undefined,
): Promise<{ outcome: ExecutionOutcome; committed?: HeapId }> {
  const fail = (message: string) => {
    const { result: _r, resultType: _t, resultTruncated: _x, heap: _h, ...rest } = outcome;
    return {
      outcome: { ...rest, status: 'failed' as const, error: failureError(FailureReason.HeapError, message) },
    };
  };
  if (!req.persist || !heapNode || !heaps) {
    return fail('the runner reported a heap nobody asked for or without its journal');
  }
  try {
    const id = await heaps.put(heapNode);
    if (id !== outcome.heap) return fail(`the runner reported heap ${outcome.heap} for content ${id}`);
    chains?.remember(id, heapNode);
    return { outcome, committed: id };
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err));
  }
}

/** What a runner is told when it asks for a chain: the chain, root first, or why there is none. */
export type ChainAnswer =
  { chain: Array<{ id: HeapId; node: HeapNode }> } | { error: { code: string; message: string } };

/** Loads the chain of `heap` for a runner that must replay it; never throws. */
export async function loadChainAnswer(
  chains: HeapChainLoader | undefined,
  heap: HeapId,
): Promise<ChainAnswer> {
  try {
    if (!chains) throw new Error('this server keeps no heaps');
    return { chain: await chains.load(heap) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      error: {
        code: typeof code === 'string' ? code : 'MCPV8_ERR_SERVER_INTERNAL',
        message: err instanceof Error ? err.message : String(err),
      },
    };
  }
}

/** Which runner holds a heap's isolate live (it may have evicted it since; then it replays). */
export class HeapRoutes<R> {
  readonly #holders = new Map<HeapId, R>();

  /** Notes that `runner` now holds `heap` live; the oldest routes are forgotten past a bound. */
  route(heap: HeapId, runner: R): void {
    this.#holders.delete(heap);
    this.#holders.set(heap, runner);
    for (const oldest of this.#holders.keys()) {
      if (this.#holders.size <= MAX_ROUTES) break;
      this.#holders.delete(oldest);
    }
  }

  holder(heap: HeapId | undefined): R | undefined {
    return heap === undefined ? undefined : this.#holders.get(heap);
  }

  /** Forgets every heap `runner` held (it died, restarted or was lost). */
  forget(runner: R): void {
    for (const [heap, holder] of this.#holders) if (holder === runner) this.#holders.delete(heap);
  }
}

/**
 * A runner pool's heap side in one object: commits what runners produce, answers their chain
 * requests, and remembers which runner holds which heap.
 */
export class RunnerHeaps<R extends { running: ReadonlyMap<string, { req: RunRequest }> }> {
  readonly routes = new HeapRoutes<R>();
  readonly #heaps: HeapStore | undefined;
  readonly #chains: HeapChainLoader | undefined;

  constructor(heaps: HeapStore | undefined) {
    this.#heaps = heaps;
    this.#chains = heaps && new HeapChainLoader(heaps);
  }

  /**
   * The final outcome of a run `runner` reported with a heap; routes the heap to it when stored.
   * `storedByRunner`: a runner pod put the heap in the shared store itself (cluster), so there is
   * nothing to store here; readers verify every node against its id, so a false claim fails there.
   */
  async commit(
    runner: R,
    req: RunRequest,
    outcome: ExecutionOutcome,
    node: HeapNode | undefined,
    storedByRunner = false,
  ) {
    if (storedByRunner && req.persist && outcome.heap !== undefined && node === undefined) {
      this.routes.route(outcome.heap, runner);
      return outcome;
    }
    const { outcome: final, committed } = await commitHeap(req, outcome, node, this.#heaps, this.#chains);
    if (committed) this.routes.route(committed, runner);
    return final;
  }

  /** The answer to `runner`'s chain request, or undefined when it was not asked to resume `heap`. */
  async chainAnswer(runner: R, executionId: string, heap: HeapId): Promise<ChainAnswer | undefined> {
    if (runner.running.get(executionId)?.req.heap !== heap) return undefined;
    return loadChainAnswer(this.#chains, heap);
  }
}

/** The outcome of an execution its pool ended as failed (the runner died, the pool closed…). */
export function failedOutcome(
  req: RunRequest,
  startedAt: number,
  reason: FailureReason,
  message: string,
): ExecutionOutcome {
  return endedOutcome('failed', failureError(reason, message), req.heapMb, Date.now() - startedAt);
}

/** The outcome of an execution cancelled by its pool. */
export function cancelledOutcome(req: RunRequest, startedAt: number): ExecutionOutcome {
  return endedOutcome('cancelled', cancelledError(), req.heapMb, Date.now() - startedAt);
}

/** The outcome of an execution its pool ended at its deadline. */
export function timedOutOutcome(req: RunRequest, startedAt: number): ExecutionOutcome {
  return endedOutcome('timed_out', timedOutError(req.timeoutMs), req.heapMb, Date.now() - startedAt);
}
