import { z } from 'zod';
import { SESSION_PAGE_DEFAULT, SESSION_PAGE_MAX } from '../../session-service.ts';
import { HeapQueryViewSchema } from '../../session-view.ts';
import { asTool } from '../tool-result.ts';
import { sessionsOf, type ToolDefinition } from './tool.ts';

const input = {
  tags: z
    .record(z.string(), z.string())
    .describe('Key/value pairs (at least one); a heap matches when it has every one of them'),
  limit: z
    .number()
    .optional()
    .describe(`Most heaps to return, 1–${SESSION_PAGE_MAX} (default ${SESSION_PAGE_DEFAULT})`),
};

/** Stateful mode only. */
export const queryHeapsByTags: ToolDefinition<typeof input, typeof HeapQueryViewSchema.shape> = {
  name: 'query_heaps_by_tags',
  title: 'Query heaps by tags',
  description:
    'Heaps whose tags include every given key/value pair (exact match), each with all its tags. Pass a ' +
    'heap to run_js to resume it.',
  inputSchema: input,
  outputSchema: HeapQueryViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, ctx) =>
    asTool(async () =>
      sessionsOf(ctx, 'query_heaps_by_tags').queryByTags(ctx.namespace, args.tags, args.limit),
    ),
};
