/**
 * The part of running an execution that is the same for every RunnerPool (local child
 * processes, runner pods over NATS): wait in FIFO order for a runner with room, then send the
 * run and resolve when the runner's outcome (or the pool, on runner loss) settles it. Aborting
 * the signal sends a cancel; while still waiting, it ends the execution as cancelled at once.
 */
import { FailureReason, type ExecutionOutcome, type OutputLevel } from './api/execution.ts';
import { cancelledOutcome, failedOutcome } from './heap-commit.ts';
import type { RunRequest } from './runner-pool.ts';

/** An execution a runner is running, as a pool tracks it. */
export interface PendingRun {
  req: RunRequest;
  onOutput: (level: OutputLevel, text: string) => void;
  resolve: (o: ExecutionOutcome) => void;
  startedAt: number;
  /** Set when a cancel was sent (the pool's watchdog escalates if the runner ignores it). */
  cancelledAt?: number;
  /**
   * Taken over from another pool (a controller that lost its Lease): this pool never sent the
   * run, so it trusts the runner's word that it still runs it.
   */
  adopted?: boolean;
}

export interface DispatchOptions<R extends { running: Map<string, PendingRun> }> {
  /** A runner with room for `req` now (the heap holder first), or undefined. */
  freeRunner: () => R | undefined;
  closed: () => boolean;
  /** Wake-ups of waiting calls; the pool calls one when a runner frees up. */
  waiting: Array<() => void>;
  sendRun: (runner: R, req: RunRequest) => void;
  sendCancel: (runner: R, executionId: string) => void;
  /** Ask `freeRunner` again after this long even without a wake-up (it may decide by time). */
  recheckAfterMs?: number;
}

export async function dispatchRun<R extends { running: Map<string, PendingRun> }>(
  req: RunRequest,
  onOutput: (level: OutputLevel, text: string) => void,
  signal: AbortSignal,
  opts: DispatchOptions<R>,
): Promise<ExecutionOutcome> {
  const queuedAt = Date.now();
  let runner: R | undefined;
  while (!(runner = opts.freeRunner())) {
    if (opts.closed())
      return failedOutcome(req, queuedAt, FailureReason.RunnerCrashed, 'the runner pool is closed');
    if (signal.aborted) return cancelledOutcome(req, queuedAt);
    await new Promise<void>((resolve) => {
      const timer = opts.recheckAfterMs === undefined ? undefined : setTimeout(wake, opts.recheckAfterMs);
      function wake() {
        clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        resolve();
      }
      opts.waiting.push(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }
  if (signal.aborted) return cancelledOutcome(req, queuedAt);
  const target = runner;
  return trackRun(
    target.running,
    { req, onOutput, startedAt: Date.now() },
    signal,
    () => {
      opts.sendCancel(target, req.executionId);
    },
    () => opts.sendRun(target, req),
  );
}

/**
 * Registers a run in its runner's `running` map and resolves with its outcome (whoever settles
 * the pending entry). Aborting `signal` marks it cancelled and calls `sendCancel`; `start`, if
 * given, is called once it is registered (e.g. to send it).
 */
export function trackRun(
  running: Map<string, PendingRun>,
  run: Omit<PendingRun, 'resolve'>,
  signal: AbortSignal,
  sendCancel: () => void,
  start?: () => void,
): Promise<ExecutionOutcome> {
  return new Promise<ExecutionOutcome>((resolve) => {
    const pending: PendingRun = { ...run, resolve };
    const onAbort = () => {
      pending.cancelledAt = Date.now();
      sendCancel();
    };
    pending.resolve = (o) => {
      signal.removeEventListener('abort', onAbort);
      resolve(o);
    };
    running.set(run.req.executionId, pending);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    start?.();
  });
}
