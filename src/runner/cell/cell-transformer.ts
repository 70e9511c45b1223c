/**
 * Runs cell transforms (TypeScript stripping, the REPL rewrite, parsing) with bounded memory and
 * time, so that no cell's transform can harm a later one. TypeScript and large cells go to a
 * worker thread (TransformWorkerPool): Node's TypeScript stripper is a WebAssembly build that a
 * single trap leaves broken for the rest of its thread, and a megabyte of source may take
 * seconds and hundreds of MiB to parse. Small JavaScript cells, the common case, are
 * transformed in place: their cost is bounded by their size, a stack overflow in the parser or
 * the rewrite surfaces as a syntax error, and a worker round trip would double their cost.
 */
import { FailureReason, cancelledError, timedOutError, type ExecutionOutcome } from '../../core/index.ts';
import { CellSyntaxError, transformCell, type CellLanguage, type TransformedCell } from './transform-cell.ts';
import {
  TransformWorkerPool,
  type TransformFailure,
  type TransformRunOptions,
  type TransformWorkerLimits,
} from './transform-worker-pool.ts';

/**
 * JavaScript cells up to this many characters are transformed on the calling thread (≈ 5 ms at
 * worst, the parser's quadratic corners included); larger ones and all TypeScript go to a worker.
 */
export const INLINE_MAX_CHARS = 16 * 1024;

/** A transform that produced nothing for a reason other than a syntax error. */
export class CellTransformError extends Error {
  override readonly name = 'CellTransformError';
  readonly kind: Exclude<TransformFailure['kind'], 'syntax'>;

  constructor(failure: Exclude<TransformFailure, { kind: 'syntax' }>, what: string) {
    super(`${what} failed: ${failure.message}`);
    this.kind = failure.kind;
  }
}

export interface CellTransformOptions extends TransformRunOptions {
  /** See TransformCellOptions.deferred. */
  deferred?: boolean;
}

export class CellTransformer {
  readonly #pool: TransformWorkerPool;

  constructor(limits: Partial<TransformWorkerLimits> = {}) {
    this.#pool = new TransformWorkerPool(limits);
  }

  /**
   * {@link transformCell} within bounds.
   * @throws {CellSyntaxError} when the cell does not parse or uses syntax a cell cannot support.
   * @throws {CellTransformError} when the transform ran out of memory or time, was cancelled, or broke.
   */
  async transform(
    source: string,
    language: CellLanguage,
    opts: CellTransformOptions,
  ): Promise<TransformedCell> {
    if (language === 'javascript' && source.length <= INLINE_MAX_CHARS) {
      return transformCell(source, language, { deferred: opts.deferred });
    }
    const result = await this.#pool.run({ op: 'cell', source, language, deferred: opts.deferred }, opts);
    if (result.ok) return result.value as TransformedCell;
    const { failure } = result;
    if (failure.kind === 'syntax') {
      throw new CellSyntaxError(failure.message, Math.max(1, failure.line), Math.max(1, failure.column));
    }
    throw new CellTransformError(failure, 'the transform of the cell');
  }

  /**
   * Strips the types of a TypeScript module (mode `transform`).
   * @throws {Error} naming what is wrong: the stripper's syntax error, or a CellTransformError.
   */
  async stripTypeScript(source: string, opts: TransformRunOptions): Promise<string> {
    const result = await this.#pool.run({ op: 'strip', source }, opts);
    if (result.ok) return result.value as string;
    const { failure } = result;
    if (failure.kind === 'syntax') throw new SyntaxError(failure.message);
    throw new CellTransformError(failure, 'TypeScript stripping');
  }

  /** Starts a worker ahead of the first TypeScript cell. */
  warm(): void {
    this.#pool.warm();
  }

  /** The limits transforms in workers run under. */
  get limits(): Readonly<TransformWorkerLimits> {
    return this.#pool.limits;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

let shared: CellTransformer | undefined;

/** The process's transformer (a runner's cells and module loads share its workers). */
export function sharedCellTransformer(): CellTransformer {
  shared ??= new CellTransformer();
  return shared;
}

/**
 * What an execution whose cell could not be transformed ends with, for the errors
 * {@link CellTransformer.transform} throws; undefined for any other error.
 */
export function transformFailureOutcome(
  err: unknown,
  filename: string,
  timeoutMs: number,
): Pick<ExecutionOutcome, 'status' | 'error'> | undefined {
  if (err instanceof CellSyntaxError) {
    return {
      status: 'failed',
      error: {
        reason: FailureReason.SyntaxError,
        name: 'SyntaxError',
        message: err.message,
        stack: `SyntaxError: ${err.message}\n    at ${filename}:${err.line}:${err.column}`,
      },
    };
  }
  if (!(err instanceof CellTransformError)) return undefined;
  switch (err.kind) {
    case 'timed_out':
      return { status: 'timed_out', error: timedOutError(timeoutMs) };
    case 'cancelled':
      return { status: 'cancelled', error: cancelledError() };
    case 'out_of_memory':
      return {
        status: 'failed',
        error: { reason: FailureReason.OutOfMemory, name: 'RangeError', message: err.message },
      };
    case 'too_long':
    case 'broken':
      // The source is what the transform could not cope with (too large, nested too deeply).
      return {
        status: 'failed',
        error: { reason: FailureReason.SyntaxError, name: 'SyntaxError', message: err.message },
      };
  }
}
