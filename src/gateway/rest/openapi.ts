/**
 * The REST API's OpenAPI 3.1 document, built from the same zod schemas the routes and MCP tools
 * use, served at GET /openapi.json.
 */
import { z } from 'zod';
import { ExecutionStatusSchema } from '../../core/index.ts';
import { ExecutionViewSchema, OutputPageViewSchema } from '../execution-view.ts';
import { MAX_BYTE_LIMIT, MAX_LINE_LIMIT } from '../output-range.ts';

const ErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const ListSchema = z.object({ executions: z.array(ExecutionViewSchema), next_cursor: z.string().optional() });
const ExecBodySchema = z.object({
  code: z.string().describe('JavaScript or TypeScript to run'),
  language: z.enum(['javascript', 'typescript']).optional(),
  heap_memory_max_mb: z.number().int().optional().describe('4–64 MiB'),
  execution_timeout_secs: z.number().int().optional().describe('1–300 s'),
});

const json = (schema: z.ZodType): Record<string, { schema: unknown }> => ({
  'application/json': { schema: z.toJSONSchema(schema) },
});
const errorResponse = (description: string) => ({ description, content: json(ErrorSchema) });
const errors = {
  '400': errorResponse('Invalid input'),
  '401': errorResponse('Missing or wrong bearer token'),
  '404': errorResponse('Unknown execution'),
};
const intQuery = (name: string, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema: { type: 'integer', minimum: 0 },
  description,
});
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'mcp-v8 REST API', version: '0.1.0' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }, {}],
    paths: {
      '/api/exec': {
        post: {
          summary: 'Start an execution (JSON body, or the code itself as text/plain)',
          parameters: [
            intQuery('wait', 'Seconds to wait for completion (0–300); 200 when finished, else 202'),
            { name: 'language', in: 'query', schema: { type: 'string', enum: ['javascript', 'typescript'] } },
          ],
          requestBody: {
            required: true,
            content: { ...json(ExecBodySchema), 'text/plain': { schema: { type: 'string' } } },
          },
          responses: {
            '200': { description: 'Finished (with ?wait)', content: json(ExecutionViewSchema) },
            '202': { description: 'Accepted: queued or running', content: json(ExecutionViewSchema) },
            '413': errorResponse('Body too large'),
            '415': errorResponse('Unsupported content type'),
            '429': errorResponse('Queue full; retry shortly'),
            ...errors,
          },
        },
      },
      '/api/executions': {
        get: {
          summary: 'List executions, newest first',
          parameters: [
            { name: 'status', in: 'query', schema: z.toJSONSchema(ExecutionStatusSchema) },
            intQuery('limit', 'Page size, 1–1000 (default 50)'),
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { '200': { description: 'A page', content: json(ListSchema) }, ...errors },
        },
      },
      '/api/executions/{id}': {
        get: {
          summary: 'An execution',
          parameters: [idParam],
          responses: {
            '200': { description: 'The execution', content: json(ExecutionViewSchema) },
            ...errors,
          },
        },
      },
      '/api/executions/{id}/output': {
        get: {
          summary: 'A page of console output, by lines or by bytes',
          parameters: [
            idParam,
            intQuery('line_offset', 'Line mode: first line'),
            intQuery('line_limit', `Line mode: 1–${MAX_LINE_LIMIT}`),
            intQuery('byte_offset', 'Byte mode: first byte'),
            intQuery('byte_limit', `Byte mode: 1–${MAX_BYTE_LIMIT}`),
          ],
          responses: { '200': { description: 'The page', content: json(OutputPageViewSchema) }, ...errors },
        },
      },
      '/api/executions/{id}/cancel': {
        post: {
          summary: 'Cancel a queued or running execution',
          parameters: [idParam],
          responses: {
            '200': { description: 'Cancelled', content: json(ExecutionViewSchema) },
            '409': errorResponse('Already finished'),
            ...errors,
          },
        },
      },
    },
  };
}
