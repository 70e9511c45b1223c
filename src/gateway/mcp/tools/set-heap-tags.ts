import { z } from 'zod';
import { MAX_TAGS_PER_HEAP } from '../../../core/index.ts';
import { HeapTagsViewSchema } from '../../session-view.ts';
import { asTool } from '../tool-result.ts';
import { sessionsOf, type ToolDefinition } from './tool.ts';

const input = {
  heap: z.string().describe('Heap id (64 lower-case hex)'),
  tags: z
    .record(z.string(), z.string())
    .describe(`The heap's new tags, string to string (at most ${MAX_TAGS_PER_HEAP}); replaces all it had`),
};

/** Stateful mode only. */
export const setHeapTags: ToolDefinition<typeof input, typeof HeapTagsViewSchema.shape> = {
  name: 'set_heap_tags',
  title: 'Set heap tags',
  description:
    "Replaces a heap's tags with the given ones (keys not given are removed) and returns them. An " +
    'unknown heap is an error.',
  inputSchema: input,
  outputSchema: HeapTagsViewSchema.shape,
  // Destructive: tags not in the call are dropped. Idempotent: the same call twice is one change.
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, ctx) =>
    asTool(async () => sessionsOf(ctx, 'set_heap_tags').setTags(ctx.namespace, args.heap, args.tags)),
};
