/**
 * The gateway's HTTP server (fastify): REST routes, health endpoints, and (next) the MCP
 * transports. Never runs user code.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { ExecutionService } from './execution-service.ts';
import { registerExecutionRoutes } from './rest/execution-routes.ts';
import { installErrorHandling } from './rest/http-errors.ts';

export interface HttpAppOptions {
  service: ExecutionService;
  /** Largest request body, bytes. */
  bodyLimit: number;
  namespaceOf?: (req: FastifyRequest) => string;
  /** Readiness: true when runners are available. */
  isReady?: () => boolean;
  logger?: boolean;
}

export function buildHttpApp(opts: HttpAppOptions): FastifyInstance {
  const app = Fastify({ bodyLimit: opts.bodyLimit, logger: opts.logger ?? false });
  // Raw code can be POSTed as text/plain.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  installErrorHandling(app, opts.bodyLimit);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = opts.isReady?.() ?? true;
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  registerExecutionRoutes(app, { service: opts.service, namespaceOf: opts.namespaceOf ?? (() => 'default') });
  return app;
}
