/**
 * One cell bound to a sandbox, from the moment it starts until it has ended: its timers, its host
 * calls, what the prelude reported, and whether the host stopped it. The sandbox routes its
 * isolate's callbacks here while the cell is bound; what arrives after it ended is ignored.
 *
 * How the cell ended is decided from what the host itself observed: the prelude's report
 * (checked), errors isolated-vm raises, and the host's own clock. Once the deadline has passed
 * the cell can only have timed out (or been cancelled), whatever it reports.
 */
import type { OutputLevel } from '../../core/index.ts';
import {
  isolateError,
  readReport,
  type CellError,
  type CellRunOptions,
  type CellRunResult,
  type CellSettlement,
} from './cell-run.ts';
import { toSandboxError } from './sandbox-error.ts';

const LEVELS: ReadonlySet<string> = new Set(['log', 'info', 'warn', 'error', 'debug']);
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const MAX_HOST_PAYLOAD_CHARS = 1 << 20;
/** isolated-vm's message when an entry's `timeout` ended it (the isolate stays usable). */
const ENTRY_TIMED_OUT = 'Script execution timed out.';
/** An entry that timed out this close to the deadline is the deadline (isolated-vm's own clock). */
const DEADLINE_SLACK_MS = 50;
/** How long the drain of a stopped cell's buffered console output may run. */
const DRAIN_TIMEOUT_MS = 50;
/**
 * How long a stopped cell may keep the host waiting to drain: a cell spinning inside an entry
 * stops when the entry's own timeout fires, which on a loaded machine lags the deadline.
 */
const DRAIN_WAIT_MS = 500;

/** What a bound cell needs of its sandbox. */
export interface CellPort {
  /** Runs the prelude's timer `id` (an isolate entry). */
  fire(id: number, timeoutMs: number): Promise<unknown>;
  /** Hands over the prelude's buffered console output (an isolate entry). */
  drain(timeoutMs: number): Promise<unknown>;
  /** Disposes the isolate. */
  dispose(): void;
  /** Whether the isolate is gone (disposed by the host, or by isolated-vm at its memory limit). */
  readonly isolateDisposed: boolean;
}

export class BoundCell {
  readonly run: CellRunOptions;
  readonly #port: CellPort;
  readonly #maxResultBytes: number;
  readonly #maxTimers: number;
  /** Pending timers of the cell, by id, with how to cancel each. */
  readonly #timers = new Map<number, () => void>();
  /** Host calls and timer callbacks under way. */
  #inflight = 0;
  /** How the cell's promise settled, once the prelude reported it. */
  #settled: CellSettlement | undefined;
  /** The first error the cell left uncaught: it fails the cell at once. */
  #uncaught: CellError | undefined;
  /** Why the host stopped the cell; once set, nothing the cell did afterwards counts. */
  #stopped: 'timed_out' | 'cancelled' | undefined;
  /** The stop's drain and disposal, awaited before the run reports. */
  #stopping: Promise<void> | undefined;
  /** Re-checks whether the cell has ended (set while the sandbox waits). */
  #wake: (() => void) | undefined;
  #finished = false;
  readonly #abort = new AbortController();

  constructor(run: CellRunOptions, port: CellPort, limits: { maxResultBytes: number; maxTimers: number }) {
    this.run = run;
    this.#port = port;
    this.#maxResultBytes = limits.maxResultBytes;
    this.#maxTimers = limits.maxTimers;
  }

  /** True once the host stopped the cell (deadline or cancellation). */
  get stopped(): boolean {
    return this.#stopped !== undefined;
  }

  /** Every entry into the isolate carries the time left (see {@link entryFailed}). */
  timeLeft(): number {
    return Math.max(1, this.run.deadline - Date.now());
  }

  /** The prelude's console output. */
  output(level: unknown, text: unknown): void {
    if (this.#finished || typeof level !== 'string' || !LEVELS.has(level) || typeof text !== 'string') return;
    this.run.onOutput(level as OutputLevel, text);
  }

  /** The prelude reported how the cell settled, or an uncaught error. */
  report(kind: unknown, a: unknown, b: unknown, c: unknown): void {
    if (this.#finished || this.#stopped) return;
    const report = readReport(kind, a, b, c, this.#maxResultBytes);
    if (!report) this.#uncaught ??= { name: 'Error', message: 'the cell produced an invalid report' };
    else if (report.kind === 'uncaught') this.#uncaught ??= report.error;
    else this.#settled ??= report;
    this.#wake?.();
  }

  /** The prelude set or cleared timer `id`. */
  timer(op: unknown, id: unknown, delay: unknown): void {
    if (this.#finished || this.#stopped || typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1)
      return;
    this.#timers.get(id)?.();
    this.#timers.delete(id);
    // The prelude bounds pending timers too; the host does not take its word for it.
    if (this.#timers.size >= this.#maxTimers) return;
    if (op === 'set' && typeof delay === 'number' && delay >= 0 && delay <= MAX_TIMER_DELAY_MS) {
      this.#timers.set(
        id,
        this.run.recorder.schedule(id, delay, () => void this.#fireTimer(id)),
      );
    }
    this.#wake?.();
  }

  /** A host call of the cell (import, fetch, fs); resolves with the JSON envelope it receives. */
  async hostCall(op: unknown, payload: unknown): Promise<string> {
    if (typeof op !== 'string' || typeof payload !== 'string' || payload.length > MAX_HOST_PAYLOAD_CHARS) {
      throw new TypeError('invalid host call');
    }
    const handler = this.run.hostCall;
    if (!handler) throw new Error(`${op} is not available in this sandbox`);
    this.#inflight++;
    let answer: string;
    try {
      // The envelope (value or error) is what the journal records, so a replay fails the same way.
      answer = await this.run.recorder.hostCall(op, payload, async () => {
        try {
          return JSON.stringify({ value: await handler(op, payload, this.#abort.signal) });
        } catch (err) {
          return JSON.stringify({ error: toSandboxError(op, err) });
        }
      });
    } finally {
      this.#inflight--;
      this.#wake?.();
    }
    // The cell has ended: what this answer would set off must not run in a later cell of the
    // context, so it never comes.
    if (this.#finished) return new Promise<string>(() => {});
    return answer;
  }

  /**
   * An entry into the isolate failed. Unless the host stopped the cell or the isolate is gone
   * (memory limit), isolated-vm raised the cell's own error: a throw, or a rejection nothing
   * handled by the end of the turn. A timeout of the entry is the deadline.
   */
  entryFailed(err: unknown): void {
    if (this.#stopped || this.#port.isolateDisposed) return;
    const timedOut =
      err instanceof Error &&
      err.message === ENTRY_TIMED_OUT &&
      Date.now() >= this.run.deadline - DEADLINE_SLACK_MS;
    if (timedOut) this.stop('timed_out');
    else this.#uncaught ??= isolateError(err);
    this.#wake?.();
  }

  /**
   * Stops the cell. At the deadline it first hands over the output it buffered, if the isolate
   * lets it (a cell spinning inside an entry was just stopped there by the entry's timeout); a
   * cancellation disposes at once.
   */
  stop(why: 'timed_out' | 'cancelled'): void {
    if (this.#stopped || this.#finished) return;
    this.#stopped = why;
    this.#abort.abort();
    this.#wake?.();
    if (why === 'timed_out') this.#stopping = this.#drainAndDispose();
    else this.#port.dispose();
  }

  /** Resolves when the cell has ended: settled with nothing pending, an uncaught error, or stopped. */
  ended(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        const idle = this.#timers.size === 0 && this.#inflight === 0;
        if (this.#stopped || this.#uncaught || (this.#settled && idle)) {
          this.#wake = undefined;
          resolve();
        }
      };
      this.#wake();
    });
  }

  /** How the cell ended, once it has (`syntaxError`: the script did not compile). */
  async result(syntaxError: CellError | undefined): Promise<CellRunResult> {
    if (!this.#stopped && Date.now() >= this.run.deadline) this.stop('timed_out');
    await this.#stopping;
    if (this.#stopped) return { kind: this.#stopped };
    if (this.#port.isolateDisposed) return { kind: 'out_of_memory', message: 'isolate memory limit' };
    if (syntaxError) return { kind: 'syntax_error', error: syntaxError };
    if (this.#uncaught) return { kind: 'threw', error: this.#uncaught };
    const settled = this.#settled;
    if (!settled) throw new Error('cell ended without a report');
    return settled.kind === 'error'
      ? { kind: 'threw', error: settled.error }
      : {
          kind: 'completed',
          ...(settled.result !== undefined && { result: settled.result }),
          resultType: settled.resultType,
          resultTruncated: settled.resultTruncated,
        };
  }

  /** Unbinds the cell: its timers are cancelled and its host calls told to stop. */
  finish(): void {
    this.#finished = true;
    for (const cancel of this.#timers.values()) cancel();
    this.#timers.clear();
    this.#abort.abort();
  }

  async #fireTimer(id: number): Promise<void> {
    this.#timers.delete(id);
    if (this.#stopped || this.#finished) return;
    this.#inflight++;
    try {
      await this.#port.fire(id, this.timeLeft());
    } catch (err) {
      this.entryFailed(err);
    } finally {
      this.#inflight--;
      this.#wake?.();
    }
  }

  async #drainAndDispose(): Promise<void> {
    if (!this.#port.isolateDisposed) {
      // A cell stuck where the host cannot enter (a loop after a host call resolved) is not drained.
      const backstop = setTimeout(() => this.#port.dispose(), DRAIN_WAIT_MS);
      try {
        await this.#port.drain(DRAIN_TIMEOUT_MS);
      } catch {
        // Disposed meanwhile, or stuck: the output it held is lost with it.
      }
      clearTimeout(backstop);
    }
    this.#port.dispose();
  }
}
