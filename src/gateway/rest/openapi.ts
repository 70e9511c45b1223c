/**
 * The REST API's OpenAPI 3.1 document, built from the same zod schemas the routes and MCP tools
 * use, served at GET /openapi.json.
 */
import { z } from 'zod';
import { ExecutionStatusSchema } from '../../core/index.ts';
import { ExecutionViewSchema, OutputPageViewSchema } from '../execution-view.ts';
import { MAX_BYTE_LIMIT, MAX_LINE_LIMIT } from '../output-range.ts';
import { SESSION_PAGE_DEFAULT, SESSION_PAGE_MAX } from '../session-service.ts';
import {
  HeapQueryViewSchema,
  HeapTagsViewSchema,
  SessionListViewSchema,
  SnapshotPageViewSchema,
} from '../session-view.ts';

const ErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
const ListSchema = z.object({ executions: z.array(ExecutionViewSchema), next_cursor: z.string().optional() });
const ExecBodySchema = z.object({
  code: z.string().describe('JavaScript or TypeScript to run'),
  language: z.enum(['javascript', 'typescript']).optional(),
  heap_memory_max_mb: z.number().int().optional().describe('4–64 MiB'),
  execution_timeout_secs: z.number().int().optional().describe('1–300 s'),
});
const StatefulExecBodySchema = ExecBodySchema.extend({
  heap: z.string().optional().describe('Heap id to resume (64 lower-case hex); an unknown heap is an error'),
  session: z.string().optional().describe('Session name the committed cell is logged under'),
  tags: z.record(z.string(), z.string()).optional().describe('Tags set on the heap the cell commits'),
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

/**
 * The document for one server: `stateful` adds heap, session and tags to POST /api/exec;
 * `sessions` adds the session and heap-tag routes (both as the server registers them).
 */
export function openApiDocument(
  mode: { stateful?: boolean; sessions?: boolean } = {},
): Record<string, unknown> {
  const execBody = mode.stateful ? StatefulExecBodySchema : ExecBodySchema;
  const execQuery = mode.stateful
    ? [
        {
          name: 'heap',
          in: 'query',
          schema: { type: 'string' },
          description: 'text/plain body: heap to resume',
        },
        {
          name: 'session',
          in: 'query',
          schema: { type: 'string' },
          description: 'text/plain body: session name',
        },
      ]
    : [];
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
            ...execQuery,
          ],
          requestBody: {
            required: true,
            content: { ...json(execBody), 'text/plain': { schema: { type: 'string' } } },
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
      ...(mode.sessions ? sessionPaths() : {}),
    },
  };
}

const TagsSchema = z.record(z.string(), z.string()).describe('Tags: string keys to string values');
const heapParam = {
  name: 'heap',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  description: 'Heap id',
};
const heapErrors = {
  '400': errorResponse('Invalid input or malformed heap id'),
  '401': errorResponse('Missing or wrong bearer token'),
  '404': errorResponse('Unknown heap'),
};
const tagsAnswer = { '200': { description: "The heap's tags", content: json(HeapTagsViewSchema) } };

/** Sessions and heap tags (stateful mode). */
function sessionPaths(): Record<string, unknown> {
  const page = `1–${SESSION_PAGE_MAX}`;
  return {
    '/api/sessions': {
      get: {
        summary: 'Session names, sorted',
        parameters: [
          intQuery('offset', 'First session (default 0)'),
          intQuery('limit', `Page size, ${page} (default ${SESSION_PAGE_MAX})`),
        ],
        responses: {
          '200': { description: 'A page of names', content: json(SessionListViewSchema) },
          '400': errors['400'],
          '401': errors['401'],
        },
      },
    },
    '/api/sessions/{session}/snapshots': {
      get: {
        summary: "A session's log entries in index order (none for an unknown session)",
        parameters: [
          { name: 'session', in: 'path', required: true, schema: { type: 'string' } },
          {
            name: 'fields',
            in: 'query',
            schema: { type: 'string' },
            description: 'Comma-separated from index, input_heap, output_heap, code, timestamp (default all)',
          },
          intQuery('offset', 'First entry index (default 0)'),
          intQuery('limit', `Page size, ${page} (default ${SESSION_PAGE_DEFAULT})`),
        ],
        responses: {
          '200': { description: 'A page of entries', content: json(SnapshotPageViewSchema) },
          '400': errors['400'],
          '401': errors['401'],
        },
      },
    },
    '/api/heaps/{heap}/tags': {
      get: { summary: "A heap's tags", parameters: [heapParam], responses: { ...tagsAnswer, ...heapErrors } },
      put: {
        summary: "Replaces a heap's tags",
        parameters: [heapParam],
        requestBody: { required: true, content: json(z.object({ tags: TagsSchema })) },
        responses: { ...tagsAnswer, ...heapErrors },
      },
      delete: {
        summary: 'Removes the given tag keys (?keys=a,b or body {keys}), or every tag when none are given',
        parameters: [
          heapParam,
          { name: 'keys', in: 'query', schema: { type: 'string' }, description: 'Comma-separated tag keys' },
        ],
        requestBody: { required: false, content: json(z.object({ keys: z.array(z.string()).optional() })) },
        responses: { ...tagsAnswer, ...heapErrors },
      },
    },
    '/api/heaps/query': {
      post: {
        summary: 'Heaps whose tags contain every given pair',
        requestBody: {
          required: true,
          content: json(
            z.object({
              tags: TagsSchema,
              limit: z.number().int().optional().describe(`${page} (default ${SESSION_PAGE_DEFAULT})`),
            }),
          ),
        },
        responses: {
          '200': { description: 'The matching heaps', content: json(HeapQueryViewSchema) },
          '400': errors['400'],
          '401': errors['401'],
        },
      },
    },
  };
}
