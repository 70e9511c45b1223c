/**
 * The plain REST API over the same ExecutionService as the MCP tools:
 * POST /api/exec, GET /api/executions[/:id[/output]], POST /api/executions/:id/cancel.
 * (Sessions and heap tags: session-routes.ts.)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CellLanguageSchema, ExecutionStatusSchema, Mcpv8Error } from '../../core/index.ts';
import type { ExecutionService } from '../execution-service.ts';
import { toExecutionView, toOutputPageView } from '../execution-view.ts';
import { requireInteger, toOutputRange } from '../output-range.ts';

/** Longest `wait` a caller may ask for, seconds. */
export const MAX_WAIT_SECONDS = 300;

const ExecBodySchema = z.object({
  code: z.string(),
  language: CellLanguageSchema.optional(),
  heap_memory_max_mb: z.number().optional(),
  execution_timeout_secs: z.number().optional(),
  // Loose here: the service checks them and answers with their own codes (and refuses them
  // with MCPV8_ERR_SESSION_STATELESS on a stateless server).
  heap: z.string().optional(),
  session: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
});

export interface ExecutionRoutesOptions {
  service: ExecutionService;
  /** The tenant of a request (embedded mode: always `default`). */
  namespaceOf: (req: FastifyRequest) => string;
}

export function registerExecutionRoutes(app: FastifyInstance, opts: ExecutionRoutesOptions): void {
  const { service, namespaceOf } = opts;

  app.post('/api/exec', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    // Checked before anything is submitted: a bad wait must not leave an execution behind.
    const waitSeconds = q.wait === undefined ? 0 : int('wait', q.wait, 0, MAX_WAIT_SECONDS);
    const body =
      typeof req.body === 'string'
        ? { code: req.body, ...queryExecArgs(q) }
        : parse(ExecBodySchema, req.body);
    const record = await service.submit(namespaceOf(req), {
      code: body.code,
      language: body.language,
      heapMemoryMaxMb: body.heap_memory_max_mb,
      executionTimeoutSecs: body.execution_timeout_secs,
      heap: body.heap,
      session: body.session,
      tags: body.tags,
    });
    const final = waitSeconds > 0 ? await waitUnlessGone(reply, record.id, waitSeconds) : record;
    const done = final.status !== 'queued' && final.status !== 'running';
    return reply.status(done ? 200 : 202).send(toExecutionView(final));
  });

  /** Waits for the execution to end, but no longer than the caller stays connected. */
  async function waitUnlessGone(reply: FastifyReply, id: string, waitSeconds: number) {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    try {
      return await service.wait(namespaceOf(reply.request), id, waitSeconds * 1000, gone.signal);
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  app.get('/api/executions', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const status = q.status === undefined ? undefined : parse(ExecutionStatusSchema, q.status, 'status');
    const page = await service.list(namespaceOf(req), {
      status,
      limit: q.limit === undefined ? undefined : int('limit', q.limit, 1, 1000),
      cursor: q.cursor,
    });
    return {
      executions: page.items.map(toExecutionView),
      ...(page.nextCursor && { next_cursor: page.nextCursor }),
    };
  });

  app.get('/api/executions/:id', async (req) => {
    const { id } = req.params as { id: string };
    return toExecutionView(await service.get(namespaceOf(req), id));
  });

  app.get('/api/executions/:id/output', async (req) => {
    const { id } = req.params as { id: string };
    const q = req.query as Record<string, string | undefined>;
    const range = toOutputRange({
      line_offset: optInt(q.line_offset),
      line_limit: optInt(q.line_limit),
      byte_offset: optInt(q.byte_offset),
      byte_limit: optInt(q.byte_limit),
    });
    return toOutputPageView(id, await service.readOutput(namespaceOf(req), id, range));
  });

  app.post('/api/executions/:id/cancel', async (req) => {
    const { id } = req.params as { id: string };
    return toExecutionView(await service.cancel(namespaceOf(req), id));
  });
}

/** The arguments of a text/plain POST, from the query string (tags need a JSON body). */
function queryExecArgs(q: Record<string, string | undefined>): Omit<z.infer<typeof ExecBodySchema>, 'code'> {
  return {
    heap: q.heap,
    session: q.session,
    language: q.language === undefined ? undefined : parse(CellLanguageSchema, q.language, 'language'),
    heap_memory_max_mb: optInt(q.heap_memory_max_mb),
    execution_timeout_secs: optInt(q.execution_timeout_secs),
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, name = 'body'): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : name;
  throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`${where}: ${issue?.message ?? 'invalid'}`]);
}

/** A query value as a number when it is an integer literal; otherwise the raw text (so errors quote it). */
export function optInt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return /^-?\d{1,15}$/.test(v) ? Number(v) : (v as unknown as number);
}

function int(name: string, v: string, min: number, max: number): number {
  return requireInteger(name, optInt(v), min, max);
}
