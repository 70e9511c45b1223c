/** Messages between the runner's main thread and a transform worker (transform-worker.ts). */
import type { CellLanguage, TransformedCell } from './transform-cell.ts';

/** What a transform worker is asked: rewrite a cell, or strip the types of a TypeScript module. */
export type TransformRequest =
  | { op: 'cell'; source: string; language: CellLanguage; deferred?: boolean }
  | { op: 'strip'; source: string };

/** A request with the id its reply carries. */
export type TransformJob = TransformRequest & { id: number };

/** Why a job failed in the worker. */
export type TransformJobError =
  /** The source is wrong: a syntax error (line/column 0 when the stripper gave none). */
  | { kind: 'syntax'; message: string; line: number; column: number }
  /** Anything else (a trap in the stripper, say): the worker must not be used again. */
  | { kind: 'broken'; message: string };

export type TransformReply =
  | { id: number; ok: true; value: TransformedCell | string; externalBytes: number }
  | { id: number; ok: false; error: TransformJobError; externalBytes: number };
