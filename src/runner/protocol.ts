/**
 * The typed messages between a local runner child process and its supervisor over IPC
 * (ipc-runner-host.ts, local/child-runner-pool.ts). A runner pod speaks NATS instead
 * (cluster/runner-subjects.ts) with the same run, cancel, ready and heartbeat shapes. Both sides
 * validate what they receive: the runner executes hostile code, so its messages are untrusted too.
 */
import { z } from 'zod';
import {
  CellLanguageSchema,
  ExecutionOutcomeSchema,
  HeapIdSchema,
  HeapNodeSchema,
  HEAP_MB_MAX,
  HEAP_MB_MIN,
  OutputLevelSchema,
  TIMEOUT_SECONDS_MAX,
} from '../core/index.ts';

/** Largest cell source accepted (characters). */
export const MAX_CELL_CHARS = 1 << 20;
/** Largest console record carried in one message (characters). */
export const MAX_OUTPUT_TEXT_CHARS = 1 << 20;

/** Up to `<namespace>/<name>` of a cluster Execution (63 + 1 + 253). */
const ExecutionIdSchema = z.string().min(1).max(320);

/** The Execution object a cluster run is (see RunRequest.execution). */
export const ExecutionRefSchema = z.object({
  namespace: z.string().min(1).max(63),
  name: z.string().min(1).max(253),
});

export const RunMessageSchema = z.object({
  type: z.literal('run'),
  executionId: ExecutionIdSchema,
  code: z.string().max(MAX_CELL_CHARS),
  language: CellLanguageSchema,
  heapMb: z.number().int().min(HEAP_MB_MIN).max(HEAP_MB_MAX),
  timeoutMs: z
    .number()
    .int()
    .min(1)
    .max(TIMEOUT_SECONDS_MAX * 1000),
  /** Resume from this heap (its live isolate, or a replay of the chain the runner asks for). */
  heap: HeapIdSchema.optional(),
  /** Stateful: a completed cell produces a heap (reported with its journal node). */
  persist: z.boolean().default(false),
  /** Cluster: the Execution (see RunRequest.execution). */
  execution: ExecutionRefSchema.optional(),
  /** Cluster: the run's egress capability (cluster/egress-token.ts), for the egress broker. */
  egressToken: z.string().min(1).max(2048).optional(),
});
export type RunMessage = z.infer<typeof RunMessageSchema>;

/** The first message to a runner process: its options (validated again by the runner itself). */
export const ConfigureMessageSchema = z.object({
  type: z.literal('configure'),
  options: z.record(z.string(), z.unknown()),
});

export const CancelMessageSchema = z.object({ type: z.literal('cancel'), executionId: ExecutionIdSchema });

export const ParentMessageSchema = z.discriminatedUnion('type', [
  RunMessageSchema,
  CancelMessageSchema,
  z.object({ type: z.literal('shutdown') }),
  /** Answer to `chain-request`: the heap's chain, root first, or why it cannot be had. */
  z.object({
    type: z.literal('chain'),
    executionId: ExecutionIdSchema,
    chain: z.array(z.object({ id: HeapIdSchema, node: HeapNodeSchema })).optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  }),
]);
export type ParentMessage = z.infer<typeof ParentMessageSchema>;

export const ReadyMessageSchema = z.object({ type: z.literal('ready'), pid: z.number().int() });

/** See RunnerHeartbeat (runner-host.ts). */
export const HeartbeatMessageSchema = z.object({
  type: z.literal('heartbeat'),
  rssBytes: z.number().int().nonnegative(),
  running: z.number().int().nonnegative(),
  /** Absent (an older runner) or 0: no budget. */
  rssBudgetBytes: z.number().int().nonnegative().optional(),
});

export const RunnerMessageSchema = z.discriminatedUnion('type', [
  ReadyMessageSchema,
  z.object({
    type: z.literal('output'),
    executionId: ExecutionIdSchema,
    level: OutputLevelSchema,
    text: z.string().max(MAX_OUTPUT_TEXT_CHARS),
  }),
  z.object({
    type: z.literal('outcome'),
    executionId: ExecutionIdSchema,
    outcome: ExecutionOutcomeSchema,
    /** The journal node of the heap a completed stateful cell produced (`outcome.heap` is its id). */
    heapNode: HeapNodeSchema.optional(),
  }),
  /** The runner does not hold `heap` live and needs its chain to replay it. */
  z.object({ type: z.literal('chain-request'), executionId: ExecutionIdSchema, heap: HeapIdSchema }),
  HeartbeatMessageSchema,
]);
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;
