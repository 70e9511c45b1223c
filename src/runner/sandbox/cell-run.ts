/**
 * One cell run as the sandbox sees it: what the caller gives (CellRunOptions), how it ended
 * (CellRunResult), and the host's reading of what crosses out of the isolate: the prelude's
 * report and errors isolated-vm raises.
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
  /** Classic-script source produced by transformCell: evaluates to the promise of the cell's value. */
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

/** An error as an execution reports it: every field a bounded string. */
export interface CellError {
  name: string;
  message: string;
  stack?: string;
}

/** How a cell run ended, before it is turned into an ExecutionOutcome. */
export type CellRunResult =
  | { kind: 'completed'; result?: string; resultType: string; resultTruncated: boolean }
  | { kind: 'threw'; error: CellError }
  | { kind: 'timed_out' }
  | { kind: 'cancelled' }
  | { kind: 'out_of_memory'; message: string }
  | { kind: 'syntax_error'; error: CellError };

/** How the cell's promise settled, as the prelude reported it (validated). */
export type CellSettlement =
  | { kind: 'result'; result?: string; resultType: string; resultTruncated: boolean }
  | { kind: 'error'; error: CellError };

/** What the prelude may report; anything else is ignored. */
export type CellReport = CellSettlement | { kind: 'uncaught'; error: CellError };

const MAX_NAME = 200;
const MAX_MESSAGE = 16_384;
const MAX_STACK = 65_536;
const RESULT_TYPES: ReadonlySet<string> = new Set([
  'undefined',
  'null',
  'boolean',
  'number',
  'bigint',
  'string',
  'symbol',
  'function',
  'array',
  'object',
]);

/**
 * Reads one `report(kind, a, b, c)` call of the prelude. The prelude builds it from intrinsics
 * captured before user code ran, but the host trusts nothing from an isolate: every argument is
 * checked and bounded here, and a result longer than `maxResultBytes` UTF-8 bytes is cut.
 */
export function readReport(
  kind: unknown,
  a: unknown,
  b: unknown,
  c: unknown,
  maxResultBytes: number,
): CellReport | undefined {
  if (kind === 'result') {
    if ((a !== undefined && typeof a !== 'string') || typeof b !== 'string' || !RESULT_TYPES.has(b)) {
      return undefined;
    }
    const shown = a === undefined ? undefined : cutUtf8(a, maxResultBytes);
    return {
      kind,
      ...(shown !== undefined && { result: shown }),
      resultType: b,
      resultTruncated: c === 'truncated' || (a !== undefined && shown!.length < a.length),
    };
  }
  if (kind === 'error' || kind === 'uncaught') {
    if (typeof a !== 'string' || typeof b !== 'string' || typeof c !== 'string') return undefined;
    return { kind, error: boundedError(a, b, c) };
  }
  return undefined;
}

/**
 * An error raised out of the isolate by isolated-vm (an unhandled rejection, a throw, a syntax
 * error at compile time) as the cell's own error: only the frames above isolated-vm's boundary
 * (the cell's), never the host's.
 */
export function isolateError(err: unknown): CellError {
  if (err !== null && typeof err === 'object') {
    const { name, message, stack } = err as { name?: unknown; message?: unknown; stack?: unknown };
    const text = (v: unknown) => (typeof v === 'string' ? v : '');
    return boundedError(text(name) || 'Error', text(message), cellFrames(text(stack)));
  }
  return boundedError('Uncaught', describePrimitive(err), '');
}

/** `text` cut to at most `maxBytes` bytes of UTF-8, on a character boundary. */
export function cutUtf8(text: string, maxBytes: number): string {
  // Each UTF-16 unit is at most 3 bytes: short text needs no encoding to know it fits.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const { read } = new TextEncoder().encodeInto(text, new Uint8Array(maxBytes));
  return text.slice(0, read);
}

function boundedError(name: string, message: string, stack: string): CellError {
  return {
    name: name.slice(0, MAX_NAME),
    message: message.slice(0, MAX_MESSAGE),
    ...(stack !== '' && { stack: stack.slice(0, MAX_STACK) }),
  };
}

/** The frames of `stack` that are the isolate's: everything before isolated-vm's boundary line. */
function cellFrames(stack: string): string {
  const lines = stack.split('\n');
  const boundary = lines.findIndex((l) => l.includes('<isolated-vm boundary>'));
  // No boundary: not a stack isolated-vm wrote, so nothing in it can be told from host frames.
  return boundary < 0 ? '' : lines.slice(0, boundary).join('\n');
}

function describePrimitive(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, MAX_MESSAGE);
  if (typeof value === 'symbol') return value.toString();
  return String(value);
}
