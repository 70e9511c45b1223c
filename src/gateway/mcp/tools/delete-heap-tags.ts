import { z } from 'zod';
import { HeapTagsViewSchema } from '../../session-view.ts';
import { asTool } from '../tool-result.ts';
import { sessionsOf, type ToolDefinition } from './tool.ts';

const input = {
  heap: z.string().describe('Heap id (64 lower-case hex)'),
  keys: z.array(z.string()).optional().describe('Tag keys to remove; omit to remove every tag'),
};

/** Stateful mode only. */
export const deleteHeapTags: ToolDefinition<typeof input, typeof HeapTagsViewSchema.shape> = {
  name: 'delete_heap_tags',
  title: 'Delete heap tags',
  description:
    'Removes the given tag keys from a heap, or all its tags when keys is omitted, and returns the tags ' +
    'left. The heap itself is kept. An unknown heap is an error.',
  inputSchema: input,
  outputSchema: HeapTagsViewSchema.shape,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, ctx) =>
    asTool(async () => sessionsOf(ctx, 'delete_heap_tags').deleteTags(ctx.namespace, args.heap, args.keys)),
};
