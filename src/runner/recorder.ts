/**
 * The journal hook: every source of nondeterminism a cell can observe (clock, PRNG seed, host
 * call results, when results and timers are delivered) passes through a Recorder. Live runs
 * perform everything and record it; a replay (resuming a persistent session in a fresh isolate)
 * answers from the journal and delivers results and timers in the recorded order, at once.
 */
import type { JournalEntry } from '../core/index.ts';

export type { JournalEntry };

/** Cancels a scheduled timer. */
export type CancelTimer = () => void;

export interface Recorder {
  /** The clock reading the cell sees. */
  now(): number;
  /** The seed of the isolate's Math.random. */
  randomSeed(): number;
  /**
   * The result of a host call (import, fetch, fs…); `live` performs it for real. Resolves when
   * the cell should see the result.
   */
  hostCall(op: string, payload: string, live: () => Promise<string>): Promise<string>;
  /** Arranges for `fire` to run timer `id`: after `delayMs` live, at its journal turn in a replay. */
  schedule(id: number, delayMs: number, fire: () => void): CancelTimer;
}

/** Bounds on one cell's journal: a cell that reads the clock in a loop must not exhaust memory. */
export interface JournalLimits {
  maxEntries: number;
  /** Sum of the lengths of recorded host call payloads and results (characters). */
  maxChars: number;
}

export const DEFAULT_JOURNAL_LIMITS: JournalLimits = { maxEntries: 100_000, maxChars: 16 << 20 };

/** Performs everything for real and keeps the journal of what the cell observed. */
export class LiveRecorder implements Recorder {
  readonly entries: JournalEntry[] = [];
  /** Set when the journal outgrew its limits; recording stopped and the cell cannot be committed. */
  overflowed = false;
  readonly #clock: () => number;
  readonly #seed: () => number;
  readonly #limits: JournalLimits;
  #chars = 0;
  #calls = 0;

  constructor(
    clock: () => number = Date.now,
    seed: () => number = () => (Math.random() * 2 ** 32) >>> 0,
    limits: JournalLimits = DEFAULT_JOURNAL_LIMITS,
  ) {
    this.#clock = clock;
    this.#seed = seed;
    this.#limits = limits;
  }

  now(): number {
    const value = this.#clock();
    this.#record({ kind: 'now', value });
    return value;
  }

  randomSeed(): number {
    const value = this.#seed();
    this.#record({ kind: 'seed', value });
    return value;
  }

  async hostCall(op: string, payload: string, live: () => Promise<string>): Promise<string> {
    const call = this.#calls++;
    // Recorded where the call was made; the result is filled in when it arrives.
    const entry = { kind: 'call' as const, op, payload, result: '' };
    this.#record(entry, op.length + payload.length);
    const result = await live();
    entry.result = result;
    this.#count(result.length);
    this.#record({ kind: 'return', call });
    return result;
  }

  schedule(id: number, delayMs: number, fire: () => void): CancelTimer {
    const t = setTimeout(() => {
      this.#record({ kind: 'timer', id });
      fire();
    }, delayMs);
    return () => clearTimeout(t);
  }

  #record(entry: JournalEntry, chars = 0): void {
    if (this.overflowed) return;
    this.entries.push(entry);
    this.#count(chars);
    if (this.entries.length > this.#limits.maxEntries) this.#overflow();
  }

  #count(chars: number): void {
    this.#chars += chars;
    if (this.#chars > this.#limits.maxChars) this.#overflow();
  }

  #overflow(): void {
    this.overflowed = true;
    this.entries.length = 0;
  }
}

/**
 * Answers from a journal and delivers host results and timers exactly where the journal has
 * them: a delivery is made when every entry before it was consumed and its target exists (the
 * call was made, the timer was set). isolated-vm runs what is sent to one isolate in order, so
 * the cell sees the same interleaving as the live run. Something the journal does not have
 * (the code changed, or it depends on something unrecorded) is a divergence.
 */
export class ReplayRecorder implements Recorder {
  readonly #entries: readonly JournalEntry[];
  readonly #timers = new Map<number, () => void>();
  readonly #results = new Map<number, () => void>();
  /** Host calls performed for real during a replay (they change the isolate, e.g. imports). */
  readonly #relive: ReadonlySet<string>;
  #next = 0;
  #calls = 0;
  #diverged: ReplayDivergedError | undefined;

  constructor(entries: readonly JournalEntry[], opts: { relive?: ReadonlySet<string> } = {}) {
    this.#entries = entries;
    this.#relive = opts.relive ?? new Set();
  }

  now(): number {
    return this.#take('now').value;
  }

  randomSeed(): number {
    return this.#take('seed').value;
  }

  async hostCall(op: string, payload: string, live: () => Promise<string>): Promise<string> {
    const call = this.#calls++;
    const e = this.#take('call');
    if (e.op !== op || e.payload !== payload)
      throw this.#diverge(`host call ${op} differs from the journal's ${e.op}`);
    if (this.#relive.has(op)) {
      const actual = await live();
      if (actual !== e.result) {
        throw this.#diverge(`${op} ${payload} gave another result than recorded: ${actual.slice(0, 500)}`);
      }
    }
    return new Promise((resolve) => {
      this.#results.set(call, () => resolve(e.result));
      this.#pump();
    });
  }

  schedule(id: number, _delayMs: number, fire: () => void): CancelTimer {
    this.#timers.set(id, fire);
    this.#pump();
    return () => this.#timers.delete(id);
  }

  /** True when every recorded entry was consumed. */
  get complete(): boolean {
    return this.#next === this.#entries.length;
  }

  /**
   * Where the replay waits when it cannot go on (entry index and kind): a delivery whose call or
   * timer never came, or an entry the cell never asked for. Undefined when complete.
   */
  get stalledAt(): string | undefined {
    const e = this.#entries[this.#next];
    return e ? `journal entry ${this.#next} (${e.kind})` : undefined;
  }

  /** The first divergence seen, if any (also thrown into the cell where it happened). */
  get diverged(): ReplayDivergedError | undefined {
    return this.#diverged;
  }

  /** Makes every delivery that is due, in journal order. */
  #pump(): void {
    for (;;) {
      const e = this.#entries[this.#next];
      const deliver =
        e?.kind === 'timer'
          ? this.#timers.get(e.id)
          : e?.kind === 'return'
            ? this.#results.get(e.call)
            : undefined;
      if (!deliver) return;
      if (e!.kind === 'timer') this.#timers.delete(e!.id);
      else if (e!.kind === 'return') this.#results.delete(e!.call);
      this.#next++;
      // Never inside the caller (e.g. while the sandbox is still registering the timer); queued
      // microtasks keep journal order.
      queueMicrotask(deliver);
    }
  }

  #take<K extends JournalEntry['kind']>(kind: K): Extract<JournalEntry, { kind: K }> {
    const e = this.#entries[this.#next];
    if (e?.kind !== kind) {
      throw this.#diverge(`expected ${kind} at journal entry ${this.#next}, found ${e?.kind ?? 'the end'}`);
    }
    this.#next++;
    // A synchronous entry consumed may uncover a delivery; make it after the caller returns.
    queueMicrotask(() => this.#pump());
    return e as Extract<JournalEntry, { kind: K }>;
  }

  #diverge(message: string): ReplayDivergedError {
    const err = new ReplayDivergedError(message);
    this.#diverged ??= err;
    return err;
  }
}

export class ReplayDivergedError extends Error {
  override readonly name = 'ReplayDivergedError';
}
