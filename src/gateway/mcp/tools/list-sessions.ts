import { z } from 'zod';
import { SESSION_PAGE_MAX } from '../../session-service.ts';
import { SessionListViewSchema } from '../../session-view.ts';
import { asTool } from '../tool-result.ts';
import { sessionsOf, type ToolDefinition } from './tool.ts';

const input = {
  offset: z.number().optional().describe('First session to return (default 0)'),
  limit: z.number().optional().describe(`Page size, 1–${SESSION_PAGE_MAX} (default ${SESSION_PAGE_MAX})`),
};

/** Stateful mode only. */
export const listSessions: ToolDefinition<typeof input, typeof SessionListViewSchema.shape> = {
  name: 'list_sessions',
  title: 'List sessions',
  description:
    'Names of every session run_js has logged cells under (its session argument), sorted; page with ' +
    'offset and next_offset.',
  inputSchema: input,
  outputSchema: SessionListViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, ctx) =>
    asTool(async () =>
      sessionsOf(ctx, 'list_sessions').listSessions(ctx.namespace, {
        offset: args.offset,
        limit: args.limit,
      }),
    ),
};
