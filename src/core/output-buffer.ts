/**
 * Collects an execution's console records, splits them into lines and appends them to the
 * OutputLog in small batches: one write per batch instead of one per line, while a logged line
 * still becomes readable within `flushIntervalMs` (default 20 ms).
 */
import type { OutputLevel } from './api/execution.ts';
import type { OutputLine, OutputLog } from './execution-store.ts';

export class OutputBuffer {
  readonly #log: Pick<OutputLog, 'append'>;
  readonly #executionId: string;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  #pending: OutputLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    log: Pick<OutputLog, 'append'>,
    executionId: string,
    opts: { flushIntervalMs?: number; maxBatch?: number } = {},
  ) {
    this.#log = log;
    this.#executionId = executionId;
    this.#flushIntervalMs = opts.flushIntervalMs ?? 20;
    this.#maxBatch = opts.maxBatch ?? 500;
  }

  /** Adds one console record; a record with newlines becomes several lines of the same level. */
  push(level: OutputLevel, text: string): void {
    for (const line of text.split('\n')) this.#pending.push({ level, text: line });
    if (this.#pending.length >= this.#maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#flushIntervalMs);
  }

  /** Writes what is pending; resolves when every line pushed so far is stored. Never rejects. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length > 0) {
      // Chained so that batches land in order.
      this.#writing = this.#writing.then(() =>
        this.#log.append(this.#executionId, batch).catch((err: unknown) => {
          process.emitWarning(`output of ${this.#executionId} lost: ${String(err)}`);
        }),
      );
    }
    return this.#writing;
  }
}
