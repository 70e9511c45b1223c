import { z } from 'zod';
import { OutputPageViewSchema, toOutputPageView } from '../../execution-view.ts';
import { DEFAULT_LINE_LIMIT, MAX_BYTE_LIMIT, MAX_LINE_LIMIT, toOutputRange } from '../../output-range.ts';
import { asTool } from '../tool-result.ts';
import type { ToolDefinition } from './tool.ts';

const input = {
  execution_id: z.string().describe('The id run_js returned'),
  line_offset: z.number().optional().describe('Line mode: first line, 0-based (default 0)'),
  line_limit: z
    .number()
    .optional()
    .describe(`Line mode: lines to return, 1–${MAX_LINE_LIMIT} (default ${DEFAULT_LINE_LIMIT})`),
  byte_offset: z.number().optional().describe('Byte mode: first byte of the UTF-8 log, 0-based'),
  byte_limit: z
    .number()
    .optional()
    .describe(`Byte mode: bytes to return, 1–${MAX_BYTE_LIMIT} (default 65536)`),
};

export const getExecutionOutput: ToolDefinition<typeof input, typeof OutputPageViewSchema.shape> = {
  name: 'get_execution_output',
  title: 'Read console output',
  description:
    "A page of an execution's console output, readable while it runs. Page by lines (line_offset, " +
    'line_limit) or by UTF-8 bytes (byte_offset, byte_limit), not both; a page never splits a character. ' +
    'The answer gives both coordinate systems, next_line_offset / next_byte_offset to continue from, ' +
    'total_lines, total_bytes, has_more and the execution status.',
  inputSchema: input,
  outputSchema: OutputPageViewSchema.shape,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: (args, { service, namespace }) =>
    asTool(async () =>
      toOutputPageView(
        args.execution_id,
        await service.readOutput(namespace, args.execution_id, toOutputRange(args)),
      ),
    ),
};
