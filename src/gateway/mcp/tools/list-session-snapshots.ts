import { z } from 'zod';
import { SESSION_LOG_FIELDS } from '../../../core/index.ts';
import { SESSION_PAGE_DEFAULT, SESSION_PAGE_MAX } from '../../session-service.ts';
import { SnapshotPageViewSchema } from '../../session-view.ts';
import { asTool } from '../tool-result.ts';
import { sessionsOf, type ToolDefinition } from './tool.ts';

const input = {
  session: z.string().describe('Session name'),
  fields: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe(
      `Fields to return, comma-separated (or an array) from ${SESSION_LOG_FIELDS.join(', ')}; default all`,
    ),
  offset: z.number().optional().describe('First entry index to return (default 0)'),
  limit: z.number().optional().describe(`Page size, 1–${SESSION_PAGE_MAX} (default ${SESSION_PAGE_DEFAULT})`),
};

/** Stateful mode only. */
export const listSessionSnapshots: ToolDefinition<typeof input, typeof SnapshotPageViewSchema.shape> = {
  name: 'list_session_snapshots',
  title: 'List session snapshots',
  description:
    "A session's log: one entry per committed cell, in order, with index, input_heap (the heap it " +
    'resumed; null for a fresh start), output_heap (the heap it made), code and timestamp. Any ' +
    'output_heap can be passed to run_js as heap. An unknown session has no entries. Page with offset ' +
    'and next_offset.',
  inputSchema: input,
  outputSchema: SnapshotPageViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, ctx) =>
    asTool(async () =>
      sessionsOf(ctx, 'list_session_snapshots').listSnapshots(ctx.namespace, args.session, {
        fields: args.fields,
        offset: args.offset,
        limit: args.limit,
      }),
    ),
};
