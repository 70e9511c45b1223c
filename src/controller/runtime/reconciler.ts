/**
 * The reconcile contract (controller-runtime's `reconcile.Reconciler`): converge one key to its
 * desired state, reading the current state afresh each time (level-triggered; events only say
 * which key to look at, never what changed).
 */
import { ApiException } from '@kubernetes/client-node';

/** What a reconcile asks of the queue beyond "done". */
export interface ReconcileResult {
  /**
   * Reconcile this key again after this many ms (timeouts, TTLs, polling). The key's error
   * backoff is cleared first, as for any success.
   */
  requeueAfterMs?: number;
}

/**
 * Converges one key. Called by one worker at a time per key, so a reconciler needs no per-key
 * locking. What its outcome does to the queue:
 * - returns → success: the key's backoff is cleared; `requeueAfterMs` schedules it again.
 * - throws a Kubernetes 409 Conflict ({@link isConflict}) → "recompute": the key is queued again at
 *   once with no backoff and is not counted as an error (the state it acted on is stale).
 * - throws a {@link TerminalError} → counted, not retried (e.g. an invalid spec; the reconciler
 *   reports it on the object's status before throwing).
 * - throws anything else → counted and retried with per-key exponential backoff.
 *
 * `signal` aborts when the controller stops (shutdown, lost leadership) or the reconcile times out;
 * pass it to every API call and stop writing once it is aborted.
 */
export interface Reconciler {
  reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult | void>;
}

/** Adapts a plain function to {@link Reconciler} (like controller-runtime's `reconcile.Func`). */
export function reconcilerFunc(fn: Reconciler['reconcile']): Reconciler {
  return { reconcile: fn };
}

/** An error that retrying cannot fix; the controller counts it and drops the key's backoff. */
export class TerminalError extends Error {
  override readonly name = 'TerminalError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The HTTP status of a client-node API error, or undefined for any other error. */
export function apiStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return (err as ApiException<unknown>).code;
  // Watch errors and hand-made errors carry the status as `statusCode` or `code`.
  if (typeof err === 'object' && err !== null) {
    const e = err as { statusCode?: unknown; code?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** A 409 Conflict: an optimistic-concurrency write lost against a newer resourceVersion. */
export function isConflict(err: unknown): boolean {
  return apiStatusOf(err) === 409;
}

/** A 404 Not Found. */
export function isNotFound(err: unknown): boolean {
  return apiStatusOf(err) === 404;
}

/** A 410 Gone: a watch or list resourceVersion is too old (compacted away). */
export function isGone(err: unknown): boolean {
  return apiStatusOf(err) === 410;
}
