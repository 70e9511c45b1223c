/**
 * Backoff for a pool whose runner pods keep ending before their runners announce themselves (a
 * runner that cannot reach NATS exits at start; recreating it at once is a pod-churn loop). Pure
 * bookkeeping per pool key: the reconciler reports the pods that ended and the ready-runner count,
 * and asks when it may create pods again. The first round of ends is replaced at once (a single
 * crash is not a loop); each further round doubles the wait, up to a cap; a runner announcing
 * itself (the ready count rising) resets it.
 */

/** Options of a {@link StartBackoff}. */
export interface StartBackoffOptions {
  /** The wait after the second round of ends, ms (default 1 000). */
  initialMs?: number;
  /** The longest wait, ms (default 300 000). */
  maxMs?: number;
}

/** Where a pool's backoff stands. */
export interface BackoffState {
  /** Pods that ended since a runner last announced itself. */
  failedPods: number;
  /** Reconciles that saw such ends. */
  rounds: number;
  /** No pods are created before this time (epoch ms); 0 when none is pending. */
  notBefore: number;
  /** The ready-runner count last seen (a rise resets the backoff). */
  readyRunners: number;
}

/** Per-pool start-failure backoff; see the module comment. */
export class StartBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #pools = new Map<string, BackoffState>();

  constructor(opts: StartBackoffOptions = {}) {
    this.#initialMs = opts.initialMs ?? 1000;
    this.#maxMs = opts.maxMs ?? 300_000;
  }

  /**
   * Records one reconcile's observation: `ended` pods that ended without a runner announcing
   * itself since, and the pool's ready-runner count. Returns true when a new wait started.
   */
  observe(key: string, ended: number, readyRunners: number, now: number): boolean {
    const state = this.#pools.get(key) ?? { failedPods: 0, rounds: 0, notBefore: 0, readyRunners: 0 };
    if (readyRunners > state.readyRunners) {
      state.failedPods = 0;
      state.rounds = 0;
      state.notBefore = 0;
    }
    state.readyRunners = readyRunners;
    let waiting = false;
    if (ended > 0) {
      state.failedPods += ended;
      state.rounds += 1;
      const waitMs = this.waitMs(state.rounds);
      state.notBefore = waitMs > 0 ? now + waitMs : 0;
      waiting = waitMs > 0;
    }
    if (state.rounds === 0 && state.readyRunners === 0) this.#pools.delete(key);
    else this.#pools.set(key, state);
    return waiting;
  }

  /** The wait after `rounds` rounds of ends: none after the first, then doubling to the cap. */
  waitMs(rounds: number): number {
    if (rounds < 2) return 0;
    // Bounded exponent: 2^30 already exceeds any sane cap.
    return Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(rounds - 2, 30));
  }

  /** How long creations must still wait, ms (0: create now). */
  remainingMs(key: string, now: number): number {
    const state = this.#pools.get(key);
    return state ? Math.max(0, state.notBefore - now) : 0;
  }

  /** The pool's state, when it has pods that ended since a runner last announced itself. */
  state(key: string): Readonly<BackoffState> | undefined {
    const state = this.#pools.get(key);
    return state && state.failedPods > 0 ? state : undefined;
  }

  /** Drops a pool that is gone. */
  forget(key: string): void {
    this.#pools.delete(key);
  }
}
