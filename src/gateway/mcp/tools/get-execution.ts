import { z } from 'zod';
import { ExecutionViewSchema, toExecutionView } from '../../execution-view.ts';
import { asTool } from '../tool-result.ts';
import type { ToolDefinition } from './tool.ts';

/** Longest wait one call may ask for: under the usual 60 s request timeout of MCP clients. */
export const MAX_GET_WAIT_SECONDS = 50;

const input = {
  execution_id: z.string().describe('The id run_js returned'),
  wait_seconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_GET_WAIT_SECONDS)
    .optional()
    .describe(
      `Wait up to this many seconds (0–${MAX_GET_WAIT_SECONDS}, default 0) for the execution to finish before ` +
        'answering: one call instead of polling. It answers at once when the execution ends.',
    ),
};

export const getExecution: ToolDefinition<typeof input, typeof ExecutionViewSchema.shape> = {
  name: 'get_execution',
  title: 'Get an execution',
  description:
    'Status of an execution (queued, running, completed, failed, cancelled, timed_out) with started_at / ' +
    'completed_at, and once finished its result (the last expression as JSON text) or error. With ' +
    'wait_seconds it waits for the execution to finish (or the time to pass) before answering.',
  inputSchema: input,
  outputSchema: ExecutionViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, { service, namespace }, signal) =>
    asTool(async () => {
      const wait = args.wait_seconds ?? 0;
      const record =
        wait > 0
          ? await service.wait(namespace, args.execution_id, wait * 1000, signal)
          : await service.get(namespace, args.execution_id);
      return toExecutionView(record);
    }),
};
