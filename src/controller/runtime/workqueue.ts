/**
 * A rate-limited work queue of keys with client-go's guarantees: a key waits at most once
 * (adding a queued key is a no-op), a key is handed to one worker at a time, and a key added
 * while a worker holds it runs again once that worker calls `done`. Events coalesce this way:
 * ten updates of one object during a reconcile cause one more reconcile, not ten.
 */
import { defaultRateLimiter, type RateLimiter } from './rate-limiter.ts';

/** Options of a {@link WorkQueue}; all optional. */
export interface WorkQueueOptions<K> {
  /** Delays of `addRateLimited` (default {@link defaultRateLimiter}: 5 ms .. 1000 s, 10 qps). */
  rateLimiter?: RateLimiter<K>;
  /**
   * Distinct keys waiting at once (queued or delayed; default 100 000). Beyond it a new key is
   * refused (`add*` returns false): under overload the next resync re-adds it, which delays the
   * work instead of growing memory without end. Keys re-queued after `done` may exceed it by at
   * most the number of keys being processed.
   */
  maxQueued?: number;
}

/** The queue. Single-threaded like all JS; every method is synchronous except `get`. */
export class WorkQueue<K = string> {
  readonly rateLimiter: RateLimiter<K>;
  readonly #maxQueued: number;
  /** Keys ready to be handed out, in order (a Set keeps insertion order and dedups). */
  readonly #queue = new Set<K>();
  /** Keys that need processing: the queued ones plus those re-added while being processed. */
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  /** Keys waiting for a delay, with the time they become ready and their timer. */
  readonly #delayed = new Map<K, { readyAt: number; timer: NodeJS.Timeout }>();
  readonly #getters: ((key: K | undefined) => void)[] = [];
  readonly #drained: (() => void)[] = [];
  #shuttingDown = false;
  #dropped = 0;

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.rateLimiter = opts.rateLimiter ?? defaultRateLimiter<K>();
    this.#maxQueued = opts.maxQueued ?? 100_000;
  }

  /**
   * Marks `key` as needing processing. A queued key stays where it is; a key being processed runs
   * again after `done`. Returns false when the key was refused (queue full or shutting down).
   */
  add(key: K): boolean {
    if (this.#shuttingDown) return false;
    if (this.#dirty.has(key)) return true;
    if (!this.#processing.has(key) && !this.#delayed.has(key) && this.#isFull()) {
      this.#dropped++;
      return false;
    }
    this.#dirty.add(key);
    if (!this.#processing.has(key)) {
      this.#queue.add(key);
      this.#handOff();
    }
    return true;
  }

  /**
   * Adds `key` after `delayMs`. A key already waiting keeps the earlier of its two times, so a
   * requeue never postpones work that is already due sooner.
   */
  addAfter(key: K, delayMs: number): boolean {
    if (this.#shuttingDown) return false;
    if (!(delayMs > 0)) return this.add(key);
    const readyAt = Date.now() + delayMs;
    const waiting = this.#delayed.get(key);
    if (waiting) {
      if (waiting.readyAt <= readyAt) return true;
      clearTimeout(waiting.timer);
    } else if (!this.#dirty.has(key) && !this.#processing.has(key) && this.#isFull()) {
      this.#dropped++;
      return false;
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    // A delayed retry must not keep the process alive on its own.
    timer.unref();
    this.#delayed.set(key, { readyAt, timer });
    return true;
  }

  /** Adds `key` after its rate limiter's delay (counts a failure of the key). */
  addRateLimited(key: K): boolean {
    if (this.#shuttingDown) return false;
    return this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Clears `key`'s backoff (a success); does not remove the key from the queue. */
  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  /** Failures counted for `key` since it was last forgotten. */
  retries(key: K): number {
    return this.rateLimiter.retries(key);
  }

  /**
   * The next key to process, waiting until one is ready. The caller owns the key until it calls
   * `done(key)`. Resolves `undefined` once the queue is shut down and has no key left.
   */
  get(): Promise<K | undefined> {
    const key = this.#take();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** Releases `key` after processing; re-queues it when it was added meanwhile. */
  done(key: K): void {
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key)) {
      this.#queue.add(key);
      this.#handOff();
    }
    this.#checkDrained();
  }

  /** Keys refused so far because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Keys ready to be handed out (not counting delayed or in-process keys). */
  len(): number {
    return this.#queue.size;
  }

  /** Keys being processed now. */
  processing(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a delay. */
  delayed(): number {
    return this.#delayed.size;
  }

  isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops taking keys and drops the delayed ones; `get` keeps handing out the queued keys and
   * then resolves `undefined`. Resolves once no key is queued or being processed (the drain).
   * Idempotent.
   */
  shutDown(): Promise<void> {
    if (!this.#shuttingDown) {
      this.#shuttingDown = true;
      for (const { timer } of this.#delayed.values()) clearTimeout(timer);
      this.#delayed.clear();
      // Waiting getters only exist while the queue is empty, so there is nothing left for them.
      for (const resolve of this.#getters.splice(0)) resolve(undefined);
    }
    return new Promise((resolve) => {
      this.#drained.push(resolve);
      this.#checkDrained();
    });
  }

  #isFull(): boolean {
    return this.#queue.size + this.#delayed.size >= this.#maxQueued;
  }

  #take(): K | undefined {
    const next = this.#queue.values().next();
    if (next.done) return undefined;
    const key = next.value;
    this.#queue.delete(key);
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }

  #handOff(): void {
    while (this.#getters.length > 0 && this.#queue.size > 0) {
      this.#getters.shift()!(this.#take());
    }
  }

  #checkDrained(): void {
    if (!this.#shuttingDown || this.#queue.size > 0 || this.#processing.size > 0) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }
}
