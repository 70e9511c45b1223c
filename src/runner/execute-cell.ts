/**
 * Runs one execution's cell in a sandbox and turns what happened into an ExecutionOutcome:
 * transform (TS strip, REPL rewrite), run under the limits, meter the console output.
 */
import {
  FailureReason,
  OUTPUT_MAX_LINES,
  cancelledError,
  timedOutError,
  type CellLanguage,
  type ExecutionOutcome,
  type OutputLevel,
} from '../core/index.ts';
import { sharedCellTransformer, transformFailureOutcome } from './cell/cell-transformer.ts';
import type { Recorder } from './recorder.ts';
import { PRELUDE_FILENAME } from './sandbox/sandbox-source.ts';
import type { CellRunResult, HostCallHandler } from './sandbox/cell-run.ts';
import type { Sandbox } from './sandbox/sandbox.ts';
import type { ModuleSourceLoader } from './modules/module-source-loader.ts';

export interface CellRequest {
  code: string;
  language: CellLanguage;
  timeoutMs: number;
}

export interface ExecuteCellOptions {
  sandbox: Sandbox;
  recorder: Recorder;
  signal: AbortSignal;
  /** Receives each console record as it is produced (already metered). */
  onOutput: (level: OutputLevel, text: string) => void;
  maxOutputBytes: number;
  /** Host calls other than `import` (fetch, fs: added by the policy layer). */
  hostCall?: HostCallHandler;
  /** Where `import` gets module sources; without it a cell cannot import. */
  modules?: { loader: ModuleSourceLoader; cdnBase: string };
  /** Start of the execution's clock (the timeout counts from here). */
  startedAt?: number;
}

export async function executeCell(cell: CellRequest, opts: ExecuteCellOptions): Promise<ExecutionOutcome> {
  const startedAt = opts.startedAt ?? Date.now();
  const meter = new OutputMeter(opts.maxOutputBytes, opts.onOutput);
  const base = () => ({
    effectiveHeapMb: opts.sandbox.effectiveHeapMb,
    durationMs: Date.now() - startedAt,
    outputBytes: meter.bytes,
    outputTruncated: meter.truncated,
  });
  const filename = cell.language === 'typescript' ? 'cell.ts' : 'cell.js';
  let code: string;
  try {
    // Bounded in memory and time, off this thread for TypeScript and large cells (cell-transformer.ts).
    const deadline = startedAt + cell.timeoutMs;
    code = (
      await sharedCellTransformer().transform(cell.code, cell.language, {
        deadline,
        signal: opts.signal,
        // The sandbox starts the cell's function itself (see Sandbox.run).
        deferred: true,
      })
    ).code;
  } catch (err) {
    const failed = transformFailureOutcome(err, filename, cell.timeoutMs);
    if (failed) return { ...failed, ...base() };
    throw err;
  }
  const result = await opts.sandbox.run({
    code,
    filename,
    deadline: startedAt + cell.timeoutMs,
    signal: opts.signal,
    recorder: opts.recorder,
    onOutput: (level, text) => meter.write(level, text),
    hostCall: (op, payload, signal) => hostCall(opts, op, payload, signal),
  });
  return { ...toOutcome(result, cell.timeoutMs), ...base() };
}

async function hostCall(
  opts: ExecuteCellOptions,
  op: string,
  payload: string,
  signal: AbortSignal,
): Promise<unknown> {
  if (op === 'import') {
    if (!opts.modules) throw new Error('import is not available in this sandbox');
    const { specifier } = JSON.parse(payload) as { specifier: unknown };
    if (typeof specifier !== 'string') throw new TypeError('import specifier must be a string');
    return opts.sandbox.moduleLinker(opts.modules.loader, opts.modules.cdnBase).import(specifier, signal);
  }
  if (!opts.hostCall) throw new Error(`${op} is not available in this sandbox`);
  return opts.hostCall(op, payload, signal);
}

type OutcomeCore = Omit<
  ExecutionOutcome,
  'effectiveHeapMb' | 'durationMs' | 'outputBytes' | 'outputTruncated'
>;

function toOutcome(r: CellRunResult, timeoutMs: number): OutcomeCore {
  switch (r.kind) {
    case 'completed':
      return {
        status: 'completed',
        ...(r.result !== undefined && { result: r.result }),
        resultType: r.resultType,
        ...(r.resultTruncated && { resultTruncated: true }),
      };
    case 'threw':
      return {
        status: 'failed',
        error: {
          reason: r.error.name === 'ModuleError' ? FailureReason.ModuleError : FailureReason.Error,
          name: r.error.name,
          message: r.error.message,
          stack: cleanStack(r.error.stack),
        },
      };
    case 'syntax_error':
      return { status: 'failed', error: { reason: FailureReason.SyntaxError, ...r.error } };
    case 'out_of_memory':
      return {
        status: 'failed',
        error: {
          reason: FailureReason.OutOfMemory,
          name: 'RangeError',
          message: 'the execution exceeded its memory limit',
        },
      };
    case 'timed_out':
      return { status: 'timed_out', error: timedOutError(timeoutMs) };
    case 'cancelled':
      return { status: 'cancelled', error: cancelledError() };
  }
}

/** Drops the prelude's own frames: the user should see only their code. */
function cleanStack(stack: string | undefined): string | undefined {
  return stack
    ?.split('\n')
    .filter((line) => !line.includes(PRELUDE_FILENAME))
    .join('\n');
}

/**
 * Counts console bytes (UTF-8) and lines, and cuts the stream at either cap with one marker line,
 * so a cell that prints without end costs bounded memory and bandwidth, and so does one that
 * prints empty lines without end.
 */
export class OutputMeter {
  bytes = 0;
  lines = 0;
  truncated = false;
  readonly #max: number;
  readonly #maxLines: number;
  readonly #sink: (level: OutputLevel, text: string) => void;

  constructor(
    maxBytes: number,
    sink: (level: OutputLevel, text: string) => void,
    maxLines = OUTPUT_MAX_LINES,
  ) {
    this.#max = maxBytes;
    this.#maxLines = maxLines;
    this.#sink = sink;
  }

  /** Takes one or more lines of one level (joined by `\n`); each line costs its bytes plus one. */
  write(level: OutputLevel, text: string): void {
    if (this.truncated) return;
    const size = Buffer.byteLength(text) + 1;
    const lines = countLines(text);
    if (this.bytes + size <= this.#max && this.lines + lines <= this.#maxLines) {
      this.bytes += size;
      this.lines += lines;
      this.#sink(level, text);
      return;
    }
    // Over a cap: keep the whole lines that still fit, then the marker.
    let kept = -1;
    let keptBytes = 0;
    let keptLines = 0;
    for (let from = 0; ;) {
      const at = text.indexOf('\n', from);
      if (at < 0) break;
      const line = Buffer.byteLength(text.slice(from, at)) + 1;
      if (this.bytes + keptBytes + line > this.#max || this.lines + keptLines + 1 > this.#maxLines) break;
      keptBytes += line;
      keptLines++;
      kept = at;
      from = at + 1;
    }
    if (kept >= 0) {
      this.bytes += keptBytes;
      this.lines += keptLines;
      this.#sink(level, text.slice(0, kept));
    }
    this.truncated = true;
    this.#sink(
      'warn',
      `[output truncated: the execution printed more than ${this.#max} bytes or ${this.#maxLines} lines]`,
    );
  }
}

function countLines(text: string): number {
  let n = 1;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n++;
  return n;
}
