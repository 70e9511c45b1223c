/**
 * A controller: N workers pulling keys from one {@link WorkQueue} and handing each to a
 * {@link Reconciler}, then feeding the outcome back to the queue (controller-runtime's internal
 * controller loop). Keys come from anywhere (informer handlers, other controllers, timers).
 */
import type { Logger } from 'pino';
import type { ControllerMetrics, ReconcileErrorKind, ReconcileOutcome } from './controller-metrics.ts';
import { apiStatusOf, isConflict, TerminalError, type Reconciler } from './reconciler.ts';
import { WorkQueue, type WorkQueueOptions } from './workqueue.ts';

/** Options of a {@link Controller}. */
export interface ControllerOptions {
  /** Names the controller in metrics and logs; fixed, e.g. `execution`. */
  name: string;
  reconciler: Reconciler;
  /** Keys reconciled at once (default 1). One key is never reconciled twice at once. */
  concurrency?: number;
  /** Options of the controller's own work queue (backoff, bound). */
  queue?: WorkQueueOptions<string>;
  /** Aborts a reconcile's signal after this long and retries it with backoff (default: none). */
  reconcileTimeoutMs?: number;
  /**
   * Conflicts in a row after which a key's 409 is retried with backoff instead of at once
   * (default 10). Immediate recompute is right when the reconciler re-reads fresh state; a run
   * of conflicts means it keeps writing a stale body (e.g. from a lagging cache), and spinning
   * on that would burn CPU and API calls until the cache catches up.
   */
  maxImmediateConflicts?: number;
  metrics?: ControllerMetrics;
  log?: Pick<Logger, 'debug' | 'warn' | 'error'>;
}

/** Runs a reconciler over a queue of keys with bounded concurrency. Start it once. */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly #reconciler: Reconciler;
  readonly #concurrency: number;
  readonly #timeoutMs: number | undefined;
  readonly #maxConflicts: number;
  readonly #metrics: ControllerMetrics | undefined;
  readonly #log: ControllerOptions['log'];
  /** Conflicts in a row per key, reset by any other outcome. */
  readonly #conflicts = new Map<string, number>();
  #started = false;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#reconciler = opts.reconciler;
    this.#concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new RangeError(`concurrency must be a positive integer, got ${this.#concurrency}`);
    }
    this.#timeoutMs = opts.reconcileTimeoutMs;
    this.#maxConflicts = opts.maxImmediateConflicts ?? 10;
    this.#metrics = opts.metrics;
    this.#log = opts.log;
    this.queue = new WorkQueue<string>(opts.queue);
  }

  /** Queues `key` for a reconcile (deduplicated). Safe to call before `start`. */
  enqueue(key: string): void {
    if (!this.queue.add(key)) this.#refused(key);
  }

  /** Queues `key` after `delayMs`. */
  enqueueAfter(key: string, delayMs: number): void {
    if (!this.queue.addAfter(key, delayMs)) this.#refused(key);
  }

  /**
   * Runs the workers until `signal` aborts, then shuts the queue down: reconciles in flight see
   * their signal aborted and are awaited; keys still queued are dropped unreconciled (the next
   * leader lists everything again). Resolves once every worker has stopped.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error(`controller ${this.name} was already started`);
    this.#started = true;
    const stop = () => void this.queue.shutDown();
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    this.#metrics?.registerQueue(this.name, this.queue);
    try {
      await Promise.all(Array.from({ length: this.#concurrency }, () => this.#work(signal)));
    } finally {
      signal.removeEventListener('abort', stop);
      this.#metrics?.unregisterQueue(this.name);
    }
  }

  async #work(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        // After a stop the queue still hands out what it holds; drop it without acting.
        if (!signal.aborted) await this.#process(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #process(key: string, stopSignal: AbortSignal): Promise<void> {
    const timeout =
      this.#timeoutMs === undefined ? undefined : AbortSignal.timeout(Math.ceil(this.#timeoutMs));
    const signal = timeout ? AbortSignal.any([stopSignal, timeout]) : stopSignal;
    const startedAt = performance.now();
    const observe = (result: ReconcileOutcome) =>
      this.#metrics?.observeReconcile(this.name, result, (performance.now() - startedAt) / 1000);
    try {
      const result = await this.#reconciler.reconcile(key, signal);
      this.queue.forget(key);
      this.#conflicts.delete(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && after > 0) {
        this.queue.addAfter(key, after);
        observe('requeue_after');
      } else {
        observe('success');
      }
    } catch (err) {
      // Stopping, not failing: the reconcile was cut short on purpose; nothing to retry here.
      if (stopSignal.aborted) return;
      this.#failed(key, err, timeout?.aborted === true, observe);
    }
  }

  #failed(key: string, err: unknown, timedOut: boolean, observe: (r: ReconcileOutcome) => void): void {
    if (err instanceof TerminalError) {
      this.queue.forget(key);
      this.#conflicts.delete(key);
      observe('terminal');
      this.#metrics?.observeError(this.name, 'terminal');
      this.#log?.warn({ controller: this.name, key, err }, 'reconcile failed for good; not retrying');
      return;
    }
    if (isConflict(err) && !timedOut) {
      const inRow = (this.#conflicts.get(key) ?? 0) + 1;
      this.#conflicts.set(key, inRow);
      observe('conflict');
      this.#metrics?.observeError(this.name, 'conflict');
      if (inRow <= this.#maxConflicts) {
        // Recompute from fresh state now; the key is being processed, so this marks it dirty
        // and it runs again right after done(). Its backoff is left as it was.
        this.queue.add(key);
        this.#log?.debug({ controller: this.name, key }, 'conflict; recomputing');
        return;
      }
      this.#log?.warn({ controller: this.name, key, conflicts: inRow }, 'conflicts in a row; backing off');
    } else {
      this.#conflicts.delete(key);
      observe('error');
      const kind: ReconcileErrorKind = timedOut
        ? 'timeout'
        : apiStatusOf(err) === undefined
          ? 'other'
          : 'api';
      this.#metrics?.observeError(this.name, kind);
    }
    this.#metrics?.observeRetry(this.name);
    this.queue.addRateLimited(key);
    this.#log?.error(
      { controller: this.name, key, err, retries: this.queue.retries(key) },
      'reconcile failed; retrying with backoff',
    );
  }

  #refused(key: string): void {
    if (this.queue.isShuttingDown()) return;
    this.#metrics?.observeDropped(this.name, 1);
    this.#log?.warn({ controller: this.name, key }, 'work queue full; key dropped until the next resync');
  }
}
