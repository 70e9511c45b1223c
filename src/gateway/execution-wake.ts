/**
 * The pauses of one wait for an execution to end ({@link ExecutionService.wait}): each pause lasts
 * its timer, but ends early when the execution ends in this process or the caller aborts. The
 * end is subscribed for the wait's whole life, from before its first read of the record, so an
 * end that lands between a read and the next pause still cuts that pause short (no lost wake-up).
 */
import type { ExecutionEvents } from '../controller/execution-events.ts';

export class ExecutionWake {
  /** An end or abort arrived that no pause has consumed yet. */
  #pending = false;
  /** Ends the pause in progress, if any. */
  #wake: (() => void) | undefined;
  readonly #unsubscribe: () => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#notify();

  /** Subscribes at once; {@link close} must follow (a `finally`), or the listeners stay. */
  constructor(events: ExecutionEvents | undefined, executionId: string, signal?: AbortSignal) {
    this.#unsubscribe = events?.onEnd(executionId, () => this.#notify()) ?? (() => {});
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Resolves after `ms`, or as soon as the execution ends here or the signal aborts. An end that
   * arrived before the call ends this pause at once; it wakes one pause only, so a caller that
   * still finds the record unfinished then (it ended elsewhere first) goes back to timed pauses
   * instead of spinning.
   */
  pause(ms: number): Promise<void> {
    if (this.#pending || this.#signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Drops the end and abort listeners; ends a pause in progress. */
  close(): void {
    this.#unsubscribe();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#wake?.();
  }

  #notify(): void {
    if (this.#wake) this.#wake();
    else this.#pending = true;
  }
}
