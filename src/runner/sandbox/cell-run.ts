/**
 * One cell run as the sandbox sees it: what the caller gives (CellRunOptions), how it ended
 * (CellRunResult), and the reading of what the prelude's `settle` reported.
 */
import type { OutputLevel } from '../../core/index.ts';
import type { Recorder } from '../recorder.ts';

/**
 * Performs a host call requested by the cell (module import, fetch, fs); resolves with a
 * JSON-serialisable value the cell receives.
 */
export type HostCallHandler = (op: string, payload: string, signal: AbortSignal) => Promise<unknown>;

/** Everything one cell run needs from its caller. */
export interface CellRunOptions {
  /** Classic-script source produced by transformCell, wrapped in `__mcpv8.settle(…)`. */
  code: string;
  /** Name the cell's frames carry in stack traces. */
  filename: string;
  /** Epoch ms after which the run is stopped as timed out. */
  deadline: number;
  signal: AbortSignal;
  recorder: Recorder;
  onOutput(level: OutputLevel, text: string): void;
  hostCall?: HostCallHandler;
}

/** How a cell run ended, before it is turned into an ExecutionOutcome. */
export type CellRunResult =
  | { kind: 'completed'; result?: string; resultType: string; resultTruncated: boolean }
  | { kind: 'threw'; error: { name: string; message: string; stack?: string } }
  | { kind: 'timed_out' }
  | { kind: 'cancelled' }
  | { kind: 'out_of_memory'; message: string }
  | { kind: 'syntax_error'; error: { name: string; message: string; stack?: string } };

/** The prelude's settle report (and a late uncaught error, if any) as a CellRunResult. */
export function settledResult(settledJson: string, uncaught: string | undefined): CellRunResult {
  const settled = JSON.parse(settledJson) as
    | { ok: true; result?: string; resultType: string; truncated: boolean; uncaught?: string }
    | { ok: false; error: { name: string; message: string; stack?: string } };
  if (!settled.ok) return { kind: 'threw', error: settled.error };
  uncaught ??= settled.uncaught;
  if (uncaught !== undefined)
    return { kind: 'threw', error: JSON.parse(uncaught) as { name: string; message: string } };
  return {
    kind: 'completed',
    result: settled.result,
    resultType: settled.resultType,
    resultTruncated: settled.truncated,
  };
}
