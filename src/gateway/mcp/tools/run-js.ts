import { z } from 'zod';
import { HEAP_MB_MIN, TIMEOUT_SECONDS_MIN } from '../../../core/index.ts';
import { ExecutionViewSchema, toExecutionView } from '../../execution-view.ts';
import { asTool } from '../tool-result.ts';
import type { ToolContext, ToolDefinition } from './tool.ts';

const input = {
  code: z
    .string()
    .describe('JavaScript or TypeScript to run. The value of the last expression is the result.'),
  language: z
    .enum(['javascript', 'typescript'])
    .optional()
    .describe('Default javascript; typescript is type-stripped'),
  heap_memory_max_mb: z
    .number()
    .optional()
    .describe(
      `Isolate heap cap in MiB, ${HEAP_MB_MIN}–64 (or the server maximum); default the server's --heap-memory-max`,
    ),
  execution_timeout_secs: z
    .number()
    .optional()
    .describe(
      `Wall-clock limit in seconds, ${TIMEOUT_SECONDS_MIN}–300 (or the server maximum); default --execution-timeout`,
    ),
};

// Loose types here: the service validates heap, session and tags and answers with their own
// stable codes (MCPV8_ERR_HEAP_ID_INVALID rather than a generic schema error).
const statefulInput = {
  ...input,
  heap: z
    .string()
    .optional()
    .describe(
      'Heap to resume (64 lower-case hex): the heap get_execution reported for a completed execution. ' +
        'Omit to start fresh',
    ),
  session: z
    .string()
    .optional()
    .describe(
      'Session name (1–128 characters): the committed cell is logged under it (list_session_snapshots)',
    ),
  tags: z
    .record(z.string(), z.string())
    .optional()
    .describe('Tags (string to string, at most 64) set on the heap this cell commits'),
};

const describeRun = (where: string): string =>
  `Starts running code in ${where} and returns` +
  ' its execution_id at once (status "queued" or ' +
  '"running"). Poll get_execution for the status and result, and get_execution_output for console ' +
  'output (readable while the code runs). Supports top-level await, import of npm:/jsr:/https: modules, ' +
  'WebAssembly, console.*, setTimeout/setInterval. After logging/setLevel, console lines also arrive ' +
  'as notifications/message (logger "execution/<id>"). Called as an MCP task, the task id is the ' +
  'execution_id and tasks/result gives the finished execution.';

const DESCRIPTION = describeRun('a fresh V8 isolate');
const STATEFUL_DESCRIPTION =
  describeRun('a V8 isolate (fresh, or resumed from a heap)') +
  ' State persists in heaps: a completed execution reports a heap id (get_execution "heap"); pass it as ' +
  'heap to a later run_js to continue with the same globals. Only completed cells commit a heap (a ' +
  'failed, cancelled or timed-out cell leaves its input heap as it was). An unknown heap is an error, ' +
  'never a silent fresh start. session logs each committed cell under a name; tags label the new heap.';

const shared = {
  name: 'run_js',
  title: 'Run JavaScript/TypeScript',
  outputSchema: ExecutionViewSchema.shape,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  taskSupport: 'optional',
} as const;

/** Submits a run_js call; a stateless server's arguments simply have no heap, session or tags. */
function submit(
  args: z.infer<z.ZodObject<typeof input>> & Partial<z.infer<z.ZodObject<typeof statefulInput>>>,
  { service, namespace, follow }: ToolContext,
) {
  return asTool(async () => {
    const record = await service.submit(namespace, {
      code: args.code,
      language: args.language,
      heapMemoryMaxMb: args.heap_memory_max_mb,
      executionTimeoutSecs: args.execution_timeout_secs,
      heap: args.heap,
      session: args.session,
      tags: args.tags,
    });
    follow?.(record.id);
    return toExecutionView(record);
  });
}

/** run_js of a stateless server: every cell starts in a fresh isolate. */
export const runJs: ToolDefinition<typeof input, typeof ExecutionViewSchema.shape> = {
  ...shared,
  description: DESCRIPTION,
  inputSchema: input,
  handler: submit,
};

/** run_js of a stateful server: also heap (resume), session and tags. */
export const runJsStateful: ToolDefinition<typeof statefulInput, typeof ExecutionViewSchema.shape> = {
  ...shared,
  description: STATEFUL_DESCRIPTION,
  inputSchema: statefulInput,
  handler: submit,
};
