import { z } from 'zod';
import { ExecutionStatusSchema } from '../../../core/index.ts';
import { ExecutionViewSchema, toExecutionView } from '../../execution-view.ts';
import { asTool } from '../tool-result.ts';
import type { ToolDefinition } from './tool.ts';

const input = {
  status: ExecutionStatusSchema.optional().describe('Only executions in this status'),
  limit: z.number().optional().describe('Page size, 1–1000 (default 50)'),
  cursor: z.string().optional().describe('next_cursor of the previous page'),
};
const output = { executions: z.array(ExecutionViewSchema), next_cursor: z.string().optional() };

export const listExecutions: ToolDefinition<typeof input, typeof output> = {
  name: 'list_executions',
  title: 'List executions',
  description: 'Executions, newest first, optionally by status; page with limit and next_cursor.',
  inputSchema: input,
  outputSchema: output,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, { service, namespace }) =>
    asTool(async () => {
      const page = await service.list(namespace, {
        status: args.status,
        limit: args.limit,
        cursor: args.cursor,
      });
      return {
        executions: page.items.map(toExecutionView),
        ...(page.nextCursor && { next_cursor: page.nextCursor }),
      };
    }),
};
