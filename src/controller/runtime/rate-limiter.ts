/**
 * How long a key waits before its next try, like client-go's workqueue rate limiters: per-key
 * exponential backoff (a failing key slows down alone) combined with an overall token bucket
 * (many failing keys cannot flood the API server together).
 */

/** Decides the delay of a key's next try. Not shared between queues: it holds per-key state. */
export interface RateLimiter<K> {
  /** Delay before `key` may be tried again, in ms; counts one more failure of `key`. */
  when(key: K): number;
  /** Clears `key`'s failure history (call on success, or when giving up on the key). */
  forget(key: K): void;
  /** Failures counted for `key` since it was last forgotten. */
  retries(key: K): number;
}

/** Backoff doubling from `baseMs` per failure, capped at `maxMs` (client-go: 5 ms .. 1000 s). */
export class ExponentialBackoffLimiter<K> implements RateLimiter<K> {
  readonly #failures = new Map<K, number>();
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(opts: { baseMs?: number; maxMs?: number } = {}) {
    this.#baseMs = opts.baseMs ?? 5;
    this.#maxMs = opts.maxMs ?? 1_000_000;
    if (!(this.#baseMs > 0) || !(this.#maxMs >= this.#baseMs)) {
      throw new RangeError(`backoff needs 0 < baseMs <= maxMs, got ${this.#baseMs} and ${this.#maxMs}`);
    }
  }

  when(key: K): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2 ** 1100 is Infinity, which min() caps; no overflow to worry about.
    return Math.min(this.#baseMs * 2 ** failures, this.#maxMs);
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }

  retries(key: K): number {
    return this.#failures.get(key) ?? 0;
  }
}

/**
 * A token bucket over all keys: `qps` tokens a second, up to `burst` saved. A try without a token
 * is scheduled for when one will be free (the bucket goes into debt, like Go's x/time/rate
 * Reserve), so delays grow with the backlog instead of every key retrying at the same instant.
 */
export class TokenBucketLimiter<K> implements RateLimiter<K> {
  readonly #qps: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(opts: { qps?: number; burst?: number; now?: () => number } = {}) {
    this.#qps = opts.qps ?? 10;
    this.#burst = opts.burst ?? 100;
    this.#now = opts.now ?? Date.now;
    if (!(this.#qps > 0) || !(this.#burst >= 1)) {
      throw new RangeError(`token bucket needs qps > 0 and burst >= 1, got ${this.#qps} and ${this.#burst}`);
    }
    this.#tokens = this.#burst;
    this.#last = this.#now();
  }

  when(_key: K): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#qps) * 1000);
  }

  forget(_key: K): void {}

  retries(_key: K): number {
    return 0;
  }
}

/** The longest delay of several limiters; every limiter sees every failure. */
export class MaxOfLimiter<K> implements RateLimiter<K> {
  readonly #limiters: readonly RateLimiter<K>[];

  constructor(...limiters: RateLimiter<K>[]) {
    this.#limiters = limiters;
  }

  when(key: K): number {
    return Math.max(0, ...this.#limiters.map((l) => l.when(key)));
  }

  forget(key: K): void {
    for (const l of this.#limiters) l.forget(key);
  }

  retries(key: K): number {
    return Math.max(0, ...this.#limiters.map((l) => l.retries(key)));
  }
}

/** Options of {@link defaultRateLimiter}; every field is optional and defaults like client-go. */
export interface RateLimiterOptions {
  /** First retry delay, ms (default 5). */
  baseDelayMs?: number;
  /** Longest retry delay, ms (default 1 000 000 = 1000 s). */
  maxDelayMs?: number;
  /** Retries a second over all keys (default 10). */
  qps?: number;
  /** Retries allowed at once before `qps` applies (default 100). */
  burst?: number;
  now?: () => number;
}

/** client-go's DefaultControllerRateLimiter: per-key exponential backoff and an overall bucket. */
export function defaultRateLimiter<K>(opts: RateLimiterOptions = {}): RateLimiter<K> {
  return new MaxOfLimiter<K>(
    new ExponentialBackoffLimiter<K>({ baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs }),
    new TokenBucketLimiter<K>({ qps: opts.qps, burst: opts.burst, now: opts.now }),
  );
}
