import { z } from 'zod';
import { HEAP_MB_MIN, TIMEOUT_SECONDS_MIN } from '../../../core/index.ts';
import { ExecutionViewSchema, toExecutionView } from '../../execution-view.ts';
import { asTool } from '../tool-result.ts';
import type { ToolDefinition } from './tool.ts';

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

export const runJs: ToolDefinition<typeof input, typeof ExecutionViewSchema.shape> = {
  name: 'run_js',
  title: 'Run JavaScript/TypeScript',
  description:
    'Starts running code in a fresh V8 isolate and returns its execution_id at once (status "queued" or ' +
    '"running"). Poll get_execution for the status and result, and get_execution_output for console ' +
    'output (readable while the code runs). Supports top-level await, import of npm:/jsr:/https: modules, ' +
    'WebAssembly, console.*, setTimeout/setInterval. After logging/setLevel, console lines also arrive ' +
    'as notifications/message (logger "execution/<id>"). Called as an MCP task, the task id is the ' +
    'execution_id and tasks/result gives the finished execution.',
  inputSchema: input,
  outputSchema: ExecutionViewSchema.shape,
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  taskSupport: 'optional',
  handler: (args, { service, namespace, follow }) =>
    asTool(async () => {
      const record = await service.submit(namespace, {
        code: args.code,
        language: args.language,
        heapMemoryMaxMb: args.heap_memory_max_mb,
        executionTimeoutSecs: args.execution_timeout_secs,
      });
      follow?.(record.id);
      return toExecutionView(record);
    }),
};
