import { z } from 'zod';
import { ExecutionViewSchema, toExecutionView } from '../../execution-view.ts';
import { asTool } from '../tool-result.ts';
import type { ToolDefinition } from './tool.ts';

const input = { execution_id: z.string().describe('The id run_js returned') };

export const getExecution: ToolDefinition<typeof input, typeof ExecutionViewSchema.shape> = {
  name: 'get_execution',
  title: 'Get an execution',
  description:
    'Status of an execution (queued, running, completed, failed, cancelled, timed_out) with started_at / ' +
    'completed_at, and once finished its result (the last expression as JSON text) or error.',
  inputSchema: input,
  outputSchema: ExecutionViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, { service, namespace }) =>
    asTool(async () => toExecutionView(await service.get(namespace, args.execution_id))),
};
