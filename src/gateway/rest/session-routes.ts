/**
 * REST routes for sessions and heap tags (stateful mode only), over the same SessionService as
 * the MCP tools: GET /api/sessions, GET /api/sessions/:session/snapshots,
 * GET|PUT|DELETE /api/heaps/:heap/tags, POST /api/heaps/query.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Mcpv8Error } from '../../core/index.ts';
import type { SessionService } from '../session-service.ts';
import { optInt } from './execution-routes.ts';

type Query = Record<string, string | undefined>;

/**
 * `namespaceOf` gives a request's tenant (embedded mode: always `default`); each tenant sees only
 * its own sessions and tags.
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  sessions: SessionService,
  namespaceOf: (req: FastifyRequest) => string = () => 'default',
): void {
  app.get('/api/sessions', async (req) => {
    const q = req.query as Query;
    return sessions.listSessions(namespaceOf(req), { offset: optInt(q.offset), limit: optInt(q.limit) });
  });

  app.get('/api/sessions/:session/snapshots', async (req) => {
    const { session } = req.params as { session: string };
    const q = req.query as Query;
    return sessions.listSnapshots(namespaceOf(req), session, {
      fields: q.fields,
      offset: optInt(q.offset),
      limit: optInt(q.limit),
    });
  });

  app.get('/api/heaps/:heap/tags', async (req) => {
    const { heap } = req.params as { heap: string };
    return sessions.getTags(namespaceOf(req), heap);
  });

  app.put('/api/heaps/:heap/tags', async (req) => {
    const { heap } = req.params as { heap: string };
    return sessions.setTags(namespaceOf(req), heap, field(req.body, 'tags'));
  });

  app.delete('/api/heaps/:heap/tags', async (req) => {
    const { heap } = req.params as { heap: string };
    const q = req.query as Query;
    // ?keys=a,b or a JSON body {keys: [...]}; neither removes every tag.
    const keys =
      q.keys !== undefined
        ? q.keys.split(',').filter((k) => k.length > 0)
        : (field(req.body ?? {}, 'keys', true) as string[] | undefined);
    return sessions.deleteTags(namespaceOf(req), heap, keys);
  });

  app.post('/api/heaps/query', async (req) => {
    const body = req.body;
    const limit = field(body, 'limit', true);
    if (limit !== undefined && typeof limit !== 'number') {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
        `limit must be an integer, got ${JSON.stringify(limit)}`,
      ]);
    }
    return sessions.queryByTags(namespaceOf(req), field(body, 'tags'), limit);
  });
}

/** `body[name]` of a JSON object body. @throws MCPV8_ERR_INPUT_INVALID when absent (unless optional) */
function field(body: unknown, name: string, optional = false): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', ['body must be a JSON object']);
  }
  const value = (body as Record<string, unknown>)[name];
  if (value === undefined && !optional)
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`${name} is required`]);
  return value;
}
