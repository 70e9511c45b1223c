/**
 * What the load benchmark sends. Each scenario turns an arrival into a cell on a Target:
 *   - trivial:  stateless one-liners in the seed's style (`1 + 1`, `Math.sqrt(144)`, …);
 *   - cpu:      a stateless, CPU-bound cell (a 1.5 M-step integer loop: about 10 ms of one
 *               core in a fresh context on the development machine);
 *   - stateful: chained sessions — each virtual session submits cell n+1 on the heap that cell n
 *               committed, so every cell resumes real state.
 *
 * Stateful and still open-loop: a session cannot send its next cell before the previous one
 * committed (it needs that heap), so sessions are k6's virtual users and the ARRIVALS are
 * what the clock drives. Each arrival, due at t0 + i/rate whatever the server is doing, is
 * given to the session idle longest; when none is idle a new session is started, up to
 * `maxSessions`; beyond that the arrival is dropped, not queued. A slow server therefore shows
 * up as more sessions in use, then drops and latency (measured from the arrival's scheduled
 * time) — never as a slower arrival rate, exactly as k6's constant-arrival-rate with maxVUs.
 */
import type { Launch } from './arrival.ts';
import type { Cell, CellResult, Target } from './targets.ts';

export type ScenarioName = 'trivial' | 'cpu' | 'stateful';
export const SCENARIOS: readonly ScenarioName[] = ['trivial', 'cpu', 'stateful'];

export const TRIVIAL_SNIPPETS: readonly string[] = [
  '1 + 1',
  'Math.sqrt(144)',
  '"hello".toUpperCase()',
  '[1, 2, 3].map((x) => x * 2)',
  'JSON.stringify({ a: 1, b: [true, null] })',
  'Math.max(3, 7, 5)',
];

export const CPU_SNIPPET = 'let h = 0; for (let i = 0; i < 1.5e6; i++) { h = (h * 31 + i) | 0; } h';

/**
 * The first cell of a session, then the cell every later one runs on the previous heap. The
 * first names its session: heaps are content-addressed (parent + cell + what it observed), so
 * sessions running identical cells would otherwise share every heap id, and two sessions
 * resuming one heap at once cannot both have its live isolate — one would replay the chain.
 * Real sessions diverge; the benchmark's must too.
 */
export const sessionStart = (session: string): string =>
  `var session = ${JSON.stringify(session)}; var n = 0; var seen = []; n`;
export const SESSION_NEXT = 'seen.push(n); ++n';

/** Does the scenario need a server with persistent heaps? */
export const needsHeaps = (name: ScenarioName): boolean => name === 'stateful';

export interface Workload {
  launch: Launch;
  /** Most virtual users busy at once (the table's "Max VUs" for stateful runs). */
  readonly peakBusy: number;
  readonly sessionsStarted: number;
}

export function statelessWorkload(target: Target, codeOf: (index: number) => string): Workload {
  return {
    launch: (index, signal) => target.run({ code: codeOf(index) }, signal),
    peakBusy: 0,
    sessionsStarted: 0,
  };
}

interface Session {
  name: string;
  heap?: string;
  cells: number;
}

/** Chained sessions as virtual users; see the module comment for why this stays open-loop. */
export class SessionPool implements Workload {
  readonly #target: Target;
  readonly #max: number;
  readonly #prefix: string;
  /** Idle sessions, longest idle first. */
  readonly #idle: Session[] = [];
  #busy = 0;
  peakBusy = 0;
  sessionsStarted = 0;

  constructor(target: Target, maxSessions: number, prefix: string) {
    this.#target = target;
    this.#max = maxSessions;
    this.#prefix = prefix;
  }

  readonly launch: Launch = (_index, signal) => {
    let session = this.#idle.shift();
    if (session === undefined) {
      if (this.sessionsStarted >= this.#max) return undefined;
      session = { name: `${this.#prefix}-${++this.sessionsStarted}`, cells: 0 };
    }
    this.#busy++;
    this.peakBusy = Math.max(this.peakBusy, this.#busy);
    return this.#run(session, signal);
  };

  async #run(session: Session, signal: AbortSignal): Promise<CellResult> {
    const cell: Cell = {
      code: session.heap === undefined ? sessionStart(session.name) : SESSION_NEXT,
      heap: session.heap,
      session: session.name,
    };
    try {
      const result = await this.#target.run(cell, signal);
      // A failed cell commits nothing: the session goes on from the heap it had.
      if (result.ok) {
        if (result.heap === undefined) return { ok: false, error: 'no heap (is the server stateless?)' };
        session.heap = result.heap;
        session.cells++;
      }
      return result;
    } finally {
      this.#busy--;
      this.#idle.push(session);
    }
  }
}

export function workloadFor(
  name: ScenarioName,
  target: Target,
  opts: { maxSessions: number; runId: string },
) {
  switch (name) {
    case 'trivial':
      return statelessWorkload(target, (i) => TRIVIAL_SNIPPETS[i % TRIVIAL_SNIPPETS.length]!);
    case 'cpu':
      return statelessWorkload(target, () => CPU_SNIPPET);
    case 'stateful':
      return new SessionPool(target, opts.maxSessions, `bench-${opts.runId}`);
  }
}
