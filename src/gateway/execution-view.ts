/**
 * The public, seed-compatible (snake_case) shape of an execution and of an output page, shared
 * by the MCP tools and the REST API so both say the same thing.
 */
import { z } from 'zod';
import {
  ExecutionStatusSchema,
  type ExecutionRecord,
  type ExecutionStatus,
  type OutputPage,
} from '../core/index.ts';

export const ExecutionViewSchema = z.object({
  execution_id: z.string(),
  status: ExecutionStatusSchema,
  language: z.enum(['javascript', 'typescript']),
  created_at: z.string(),
  started_at: z.string().optional(),
  completed_at: z.string().optional(),
  result: z.string().optional().describe('Value of the last expression: JSON text, or inspection text'),
  result_type: z.string().optional(),
  result_truncated: z.boolean().optional(),
  error: z
    .object({ reason: z.string(), name: z.string(), message: z.string(), stack: z.string().optional() })
    .optional(),
  heap_memory_max_mb: z.number().int(),
  effective_heap_memory_max_mb: z.number().int().optional(),
  execution_timeout_secs: z.number().int(),
  duration_ms: z.number().optional(),
  output_bytes: z.number().int().optional(),
  output_truncated: z.boolean().optional(),
  heap: z
    .string()
    .optional()
    .describe('Stateful mode: the heap this completed execution committed; pass it as run_js heap to resume'),
  input_heap: z.string().optional().describe('Stateful mode: the heap the execution resumed'),
  session: z.string().optional().describe('Stateful mode: the session the execution is logged under'),
});
export type ExecutionView = z.infer<typeof ExecutionViewSchema>;

export function toExecutionView(r: ExecutionRecord): ExecutionView {
  const o = r.outcome;
  return {
    execution_id: r.id,
    status: r.status,
    language: r.language,
    created_at: r.createdAt,
    ...(r.startedAt && { started_at: r.startedAt }),
    ...(r.completedAt && { completed_at: r.completedAt }),
    ...(o?.result !== undefined && { result: o.result }),
    ...(o?.resultType && { result_type: o.resultType }),
    ...(o?.resultTruncated && { result_truncated: true }),
    ...(o?.error && { error: o.error }),
    heap_memory_max_mb: r.limits.heapMemoryMaxMb,
    ...(o && {
      effective_heap_memory_max_mb: o.effectiveHeapMb,
      duration_ms: o.durationMs,
      output_bytes: o.outputBytes,
      output_truncated: o.outputTruncated,
    }),
    execution_timeout_secs: r.limits.timeoutSeconds,
    ...(o?.heap && { heap: o.heap }),
    ...(r.heap && { input_heap: r.heap }),
    ...(r.session !== undefined && { session: r.session }),
  };
}

export const OutputPageViewSchema = z.object({
  execution_id: z.string(),
  status: ExecutionStatusSchema,
  data: z.string().describe('The page text; every line ends with a newline'),
  lines: z.array(z.object({ index: z.number().int(), level: z.string(), text: z.string() })),
  line_offset: z.number().int(),
  next_line_offset: z.number().int(),
  byte_offset: z.number().int(),
  next_byte_offset: z.number().int(),
  total_lines: z.number().int(),
  total_bytes: z.number().int(),
  has_more: z.boolean(),
});
export type OutputPageView = z.infer<typeof OutputPageViewSchema>;

export function toOutputPageView(id: string, page: OutputPage & { status: ExecutionStatus }): OutputPageView {
  return {
    execution_id: id,
    status: page.status,
    data: page.text,
    lines: page.lines.map((l) => ({ index: l.index, level: l.level, text: l.text })),
    line_offset: page.lineOffset,
    next_line_offset: page.nextLineOffset,
    byte_offset: page.byteOffset,
    next_byte_offset: page.nextByteOffset,
    total_lines: page.totalLines,
    total_bytes: page.totalBytes,
    has_more: page.hasMore,
  };
}
