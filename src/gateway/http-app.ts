/**
 * The gateway's HTTP server (fastify): REST routes, health endpoints, and the MCP transports
 * (Streamable HTTP at /mcp, legacy SSE at /sse + /message). Never runs user code.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { ExecutionService } from './execution-service.ts';
import type { SessionService } from './session-service.ts';
import { registerSessionRoutes } from './rest/session-routes.ts';
import { registerExecutionRoutes } from './rest/execution-routes.ts';
import { installErrorHandling, replyWithError } from './rest/http-errors.ts';
import { registerMcpHttpRoutes } from './mcp/mcp-http-routes.ts';
import { registerMcpMetrics } from './mcp/mcp-metrics.ts';
import type { McpSessionLimits } from './mcp/mcp-session-registry.ts';
import {
  StaticTokenAuthenticator,
  callerOf,
  installAuthentication,
  type Authenticator,
} from './auth/authenticator.ts';
import { openApiDocument } from './rest/openapi.ts';

export interface HttpAppOptions {
  service: ExecutionService;
  /** Stateful mode: sessions and heap tags (their REST routes and MCP tools exist only then). */
  sessions?: SessionService;
  /** Largest request body, bytes. */
  bodyLimit: number;
  /** A request's tenant; default: the authenticated caller's namespace, else `default`. */
  namespaceOf?: (req: FastifyRequest) => string;
  /** Readiness: true when runners are available. */
  isReady?: () => boolean;
  logger?: boolean;
  /** Host header values accepted on the MCP endpoints; empty accepts any. */
  allowedHosts?: readonly string[];
  allowedOrigins?: readonly string[];
  /** Serves GET /metrics (Prometheus text format) from this registry when given; MCP metrics are added to it. */
  metrics?: Registry;
  /** When non-empty, every route but /healthz and /readyz needs `Authorization: Bearer <one of these>`. */
  authTokens?: readonly string[];
  /** Authenticates every route but /healthz and /readyz (wins over `authTokens`). */
  authenticator?: Authenticator;
  /** MCP session bounds (default {@link DEFAULT_MCP_SESSION_LIMITS}). */
  mcpSessions?: Partial<McpSessionLimits>;
  /** Most bytes queued toward one MCP client's stream (default {@link DEFAULT_MCP_STREAM_BUFFER_BYTES}). */
  mcpStreamBufferBytes?: number;
}

/** MCP session bounds when none are configured. */
export const DEFAULT_MCP_SESSION_LIMITS: McpSessionLimits = Object.freeze({
  maxSessions: 1000,
  maxPerClient: 100,
  idleTimeoutMs: 30 * 60_000,
});

/** Bytes queued toward one MCP client's SSE stream before its notifications are dropped. */
export const DEFAULT_MCP_STREAM_BUFFER_BYTES = 1 << 20;

/**
 * The identity a request's MCP sessions are counted against: the authenticated caller (tenant
 * and subject) when authentication is on, else the remote address.
 */
export function mcpClientOf(req: FastifyRequest): string {
  const caller = callerOf(req);
  return caller ? `caller:${caller.namespace}/${caller.subject}` : `address:${req.ip}`;
}

export function buildHttpApp(opts: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: opts.bodyLimit,
    logger: opts.logger ?? false,
    frameworkErrors: (err, req, reply) => void replyWithError(err, req, reply, opts.bodyLimit),
  });
  // Raw code can be POSTed as text/plain.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  installErrorHandling(app, opts.bodyLimit);
  const authenticator =
    opts.authenticator ??
    (opts.authTokens && opts.authTokens.length > 0
      ? new StaticTokenAuthenticator(opts.authTokens)
      : undefined);
  if (authenticator) installAuthentication(app, authenticator);
  app.get('/healthz', async () => ({ status: 'ok' }));
  const openapi = openApiDocument({ stateful: opts.service.stateful, sessions: opts.sessions !== undefined });
  app.get('/openapi.json', async () => openapi);
  app.get('/readyz', async (_req, reply) => {
    const ready = opts.isReady?.() ?? true;
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  const metrics = opts.metrics;
  if (metrics) {
    app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  }
  const namespaceOf = opts.namespaceOf ?? ((req: FastifyRequest) => callerOf(req)?.namespace ?? 'default');
  registerExecutionRoutes(app, { service: opts.service, namespaceOf });
  if (opts.sessions) registerSessionRoutes(app, opts.sessions, namespaceOf);
  const mcpStats = registerMcpHttpRoutes(app, {
    service: opts.service,
    sessions: opts.sessions,
    namespaceOf,
    clientOf: mcpClientOf,
    allowedHosts: opts.allowedHosts ?? [],
    allowedOrigins: opts.allowedOrigins ?? [],
    limits: {
      maxSessions: opts.mcpSessions?.maxSessions ?? DEFAULT_MCP_SESSION_LIMITS.maxSessions,
      maxPerClient: opts.mcpSessions?.maxPerClient ?? DEFAULT_MCP_SESSION_LIMITS.maxPerClient,
      idleTimeoutMs: opts.mcpSessions?.idleTimeoutMs ?? DEFAULT_MCP_SESSION_LIMITS.idleTimeoutMs,
    },
    streamBufferBytes: opts.mcpStreamBufferBytes ?? DEFAULT_MCP_STREAM_BUFFER_BYTES,
  });
  if (metrics) registerMcpMetrics(metrics, mcpStats);
  return app;
}
