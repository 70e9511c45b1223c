import { z } from 'zod';
import { HeapTagsViewSchema } from '../../session-view.ts';
import { asTool } from '../tool-result.ts';
import { sessionsOf, type ToolDefinition } from './tool.ts';

const input = { heap: z.string().describe('Heap id (64 lower-case hex)') };

/** Stateful mode only. */
export const getHeapTags: ToolDefinition<typeof input, typeof HeapTagsViewSchema.shape> = {
  name: 'get_heap_tags',
  title: 'Get heap tags',
  description: "A heap's tags (an empty object when it has none). An unknown heap is an error.",
  inputSchema: input,
  outputSchema: HeapTagsViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, ctx) =>
    asTool(async () => sessionsOf(ctx, 'get_heap_tags').getTags(ctx.namespace, args.heap)),
};
