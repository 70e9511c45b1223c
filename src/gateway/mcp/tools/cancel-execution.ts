import { z } from 'zod';
import { ExecutionViewSchema, toExecutionView } from '../../execution-view.ts';
import { asTool } from '../tool-result.ts';
import type { ToolDefinition } from './tool.ts';

const input = { execution_id: z.string().describe('The id run_js returned') };

export const cancelExecution: ToolDefinition<typeof input, typeof ExecutionViewSchema.shape> = {
  name: 'cancel_execution',
  title: 'Cancel an execution',
  description: 'Cancels a queued or running execution; its status becomes "cancelled" and stays so.',
  inputSchema: input,
  outputSchema: ExecutionViewSchema.shape,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  handler: (args, { service, namespace }) =>
    asTool(async () => toExecutionView(await service.cancel(namespace, args.execution_id))),
};
