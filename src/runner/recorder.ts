/**
 * The journal hook: every source of nondeterminism a cell can observe (clock, PRNG seed, host
 * call results, timer firing order) passes through a Recorder. Live runs record; a replay
 * (persistent sessions) answers from what was recorded, so the same cell rebuilds the same state.
 */

/** One recorded observation, in the order the cell made it. */
export type JournalEntry =
  | { kind: 'now'; value: number }
  | { kind: 'seed'; value: number }
  | { kind: 'host'; op: string; payload: string; result: string }
  | { kind: 'timer'; id: number };

export interface Recorder {
  /** The clock reading the cell sees. */
  now(): number;
  /** The seed of the cell's Math.random. */
  randomSeed(): number;
  /** The result of a host call (import, fetch, fs…); `live` performs it for real. */
  hostCall(op: string, payload: string, live: () => Promise<string>): Promise<string>;
  /** Notes that timer `id` fired. */
  timerFired(id: number): void;
}

/** Performs everything for real and keeps the journal of what the cell observed. */
export class LiveRecorder implements Recorder {
  readonly entries: JournalEntry[] = [];
  readonly #clock: () => number;
  readonly #seed: () => number;

  constructor(clock: () => number = Date.now, seed: () => number = () => (Math.random() * 2 ** 32) >>> 0) {
    this.#clock = clock;
    this.#seed = seed;
  }

  now(): number {
    const value = this.#clock();
    this.entries.push({ kind: 'now', value });
    return value;
  }

  randomSeed(): number {
    const value = this.#seed();
    this.entries.push({ kind: 'seed', value });
    return value;
  }

  async hostCall(op: string, payload: string, live: () => Promise<string>): Promise<string> {
    const result = await live();
    this.entries.push({ kind: 'host', op, payload, result });
    return result;
  }

  timerFired(id: number): void {
    this.entries.push({ kind: 'timer', id });
  }
}

/**
 * Answers from a journal. A cell that asks for something else than what was recorded (its code
 * changed, or it depends on something unrecorded) makes the replay diverge: that is an error.
 */
export class ReplayRecorder implements Recorder {
  readonly #entries: readonly JournalEntry[];
  #next = 0;

  constructor(entries: readonly JournalEntry[]) {
    this.#entries = entries;
  }

  now(): number {
    return this.#take('now').value;
  }

  randomSeed(): number {
    return this.#take('seed').value;
  }

  async hostCall(op: string, payload: string): Promise<string> {
    const e = this.#take('host');
    if (e.op !== op || e.payload !== payload)
      throw new ReplayDivergedError(`host call ${op} differs from the journal`);
    return e.result;
  }

  timerFired(id: number): void {
    const e = this.#take('timer');
    if (e.id !== id) throw new ReplayDivergedError(`timer ${id} fired where the journal has timer ${e.id}`);
  }

  /** True when every recorded entry was consumed. */
  get complete(): boolean {
    return this.#next === this.#entries.length;
  }

  #take<K extends JournalEntry['kind']>(kind: K): Extract<JournalEntry, { kind: K }> {
    const e = this.#entries[this.#next];
    if (e?.kind !== kind) {
      throw new ReplayDivergedError(
        `expected ${kind} at journal entry ${this.#next}, found ${e?.kind ?? 'the end'}`,
      );
    }
    this.#next++;
    return e as Extract<JournalEntry, { kind: K }>;
  }
}

export class ReplayDivergedError extends Error {
  override readonly name = 'ReplayDivergedError';
}
