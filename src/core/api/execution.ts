/**
 * The Execution domain: what a caller asks to run (spec), the limits that bound it, and how it
 * ended (outcome). One source of truth for the runner protocol, the embedded API, MCP tool
 * schemas and (later) the Execution CRD.
 */
import { z } from 'zod';
import { HeapIdSchema } from './heap-id.ts';

/** Seed-compatible ranges; servers may configure lower maxima. */
export const HEAP_MB_MIN = 4;
export const HEAP_MB_MAX = 64;
/** isolated-vm refuses isolates below 8 MB: a smaller request is raised and reported. */
export const HEAP_MB_EFFECTIVE_MIN = 8;
export const TIMEOUT_SECONDS_MIN = 1;
export const TIMEOUT_SECONDS_MAX = 300;

export const CellLanguageSchema = z.enum(['javascript', 'typescript']).describe('Language of the cell');
export type CellLanguage = z.infer<typeof CellLanguageSchema>;

export const ExecutionLimitsSchema = z.object({
  heapMemoryMaxMb: z.number().int().min(HEAP_MB_MIN).max(HEAP_MB_MAX).describe('Isolate heap cap, MiB'),
  timeoutSeconds: z
    .number()
    .int()
    .min(TIMEOUT_SECONDS_MIN)
    .max(TIMEOUT_SECONDS_MAX)
    .describe('Wall-clock limit per execution, seconds'),
});
export type ExecutionLimits = z.infer<typeof ExecutionLimitsSchema>;

/** Terminal and non-terminal statuses, as the seed names them. */
export const ExecutionStatusSchema = z.enum([
  'queued',
  'running',
  'completed',
  'failed',
  'cancelled',
  'timed_out',
]);
export type ExecutionStatus = z.infer<typeof ExecutionStatusSchema>;

export const TERMINAL_STATUSES: ReadonlySet<ExecutionStatus> = new Set([
  'completed',
  'failed',
  'cancelled',
  'timed_out',
]);

/**
 * Why an execution did not complete. CamelCase, stable: reasons are added and deprecated,
 * never renamed (they also appear as Kubernetes condition reasons).
 */
export const FailureReason = {
  /** The user's code threw (or rejected) and nothing caught it. */
  Error: 'Error',
  /** The cell does not parse (JS or TS). */
  SyntaxError: 'SyntaxError',
  /** The isolate heap cap or the runner's memory cap was exceeded. */
  OutOfMemory: 'OutOfMemory',
  /** The runner process died for another reason (killed, crashed). */
  RunnerCrashed: 'RunnerCrashed',
  /**
   * Cluster: the runner pod disappeared mid-run (deleted, evicted, its node lost) or stopped
   * answering; the execution did not run to its end and is not retried.
   */
  RunnerLost: 'RunnerLost',
  /** The wall-clock limit passed. */
  Timeout: 'Timeout',
  /** A caller cancelled the execution. */
  Cancelled: 'Cancelled',
  /** A module could not be loaded. */
  ModuleError: 'ModuleError',
  /**
   * The session could not be resumed or advanced: the heap to resume is corrupt or could not be
   * rebuilt, the heap store is unavailable, or the cell's journal is too large to commit.
   */
  HeapError: 'HeapError',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

/**
 * Largest result an execution reports, in UTF-8 bytes (so also in characters): a longer one is
 * cut on a character boundary and flagged `resultTruncated`.
 */
export const RESULT_MAX_BYTES = 1 << 20;

/**
 * Most console lines one execution keeps (beside its byte cap): every line costs the output log,
 * the gateway and MCP clients work of its own, so a cell printing empty lines is bounded too.
 */
export const OUTPUT_MAX_LINES = 100_000;

export const ExecutionErrorSchema = z.object({
  reason: z.enum(Object.values(FailureReason) as [FailureReason, ...FailureReason[]]),
  name: z.string().max(200).describe('Error class name, e.g. TypeError'),
  message: z.string().max(16_384),
  stack: z.string().max(65_536).optional().describe('Stack trace; line numbers point into the cell'),
});
export type ExecutionError = z.infer<typeof ExecutionErrorSchema>;

export const ExecutionOutcomeSchema = z.object({
  status: z.enum(['completed', 'failed', 'cancelled', 'timed_out']),
  /** The last expression's value: JSON text when serialisable, else Node-style inspection text. */
  result: z.string().max(RESULT_MAX_BYTES).optional(),
  /** `typeof`-like kind of the result: undefined, null, boolean, number, bigint, string, symbol, function, array, object. */
  resultType: z.string().max(32).optional(),
  resultTruncated: z.boolean().optional(),
  error: ExecutionErrorSchema.optional(),
  /** The isolate heap cap actually applied (a request below 8 MiB is raised to 8). */
  effectiveHeapMb: z.number().int(),
  durationMs: z.number().nonnegative(),
  outputBytes: z.number().int().nonnegative(),
  outputTruncated: z.boolean(),
  /** Stateful mode: the heap this completed cell committed (resume from it with `heap`). */
  heap: HeapIdSchema.optional(),
});
export type ExecutionOutcome = z.infer<typeof ExecutionOutcomeSchema>;

/** Console levels a line is tagged with. */
export const OutputLevelSchema = z.enum(['log', 'info', 'warn', 'error', 'debug']);
export type OutputLevel = z.infer<typeof OutputLevelSchema>;
