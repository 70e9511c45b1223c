/**
 * MCP over HTTP on the gateway's fastify server: Streamable HTTP at `/mcp` (with sessions) and
 * the legacy SSE transport at `/sse` + `/message`. Each session gets its own McpServer. Requests
 * whose Host or Origin is not one of ours are refused (DNS-rebinding protection). A session
 * belongs to the tenant that created it: a request on it from another tenant is refused.
 */
import { randomUUID } from 'node:crypto';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ExecutionService } from '../execution-service.ts';
import type { SessionService } from '../session-service.ts';
import { createMcpServer } from './mcp-server.ts';

export interface McpHttpOptions {
  service: ExecutionService;
  /** Stateful mode: sessions and heap tags. */
  sessions?: SessionService;
  namespaceOf: (req: FastifyRequest) => string;
  /** Host header values accepted (e.g. `127.0.0.1:3000`, `localhost:3000`). Empty: any. */
  allowedHosts: readonly string[];
  /** Origin header values accepted when a browser sends one. Empty: any. */
  allowedOrigins: readonly string[];
  /** Most MCP sessions open at once, per transport. */
  maxSessions: number;
}

interface Session {
  close(): Promise<void>;
}

/** A transport and the tenant namespace its session was created for. */
interface Owned<T> {
  transport: T;
  namespace: string;
}

export function registerMcpHttpRoutes(app: FastifyInstance, opts: McpHttpOptions): void {
  const streamable = new Map<string, Owned<StreamableHTTPServerTransport>>();
  const sse = new Map<string, Owned<SSEServerTransport>>();
  const all = new Set<Session>();

  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const host = req.headers.host ?? '';
    const origin = req.headers.origin;
    if (opts.allowedHosts.length > 0 && !opts.allowedHosts.includes(host)) {
      return reply.status(403).send(jsonRpcError(`Host ${host} is not allowed`));
    }
    if (origin !== undefined && opts.allowedOrigins.length > 0 && !opts.allowedOrigins.includes(origin)) {
      return reply.status(403).send(jsonRpcError(`Origin ${origin} is not allowed`));
    }
  };

  /** The session's transport if the caller is its tenant; else the reply was sent. */
  const owned = <T>(
    req: FastifyRequest,
    reply: FastifyReply,
    session: Owned<T> | undefined,
    notFound = 'Session not found',
  ): T | undefined => {
    if (!session) {
      void reply.status(404).send(jsonRpcError(notFound));
      return undefined;
    }
    if (session.namespace !== opts.namespaceOf(req)) {
      void reply
        .status(403)
        .send(jsonRpcError('MCPV8_ERR_AUTH_FORBIDDEN: the session belongs to another tenant'));
      return undefined;
    }
    return session.transport;
  };

  app.post('/mcp', { onRequest: guard }, async (req, reply) => {
    const id = header(req, 'mcp-session-id');
    let transport: StreamableHTTPServerTransport | undefined;
    if (id) {
      transport = owned(req, reply, streamable.get(id), 'Session not found; initialize a new one');
      if (!transport) return reply;
    } else {
      if (!isInitializeRequest(req.body)) {
        return reply.status(400).send(jsonRpcError('No session: the first request must be initialize'));
      }
      if (streamable.size >= opts.maxSessions)
        return reply.status(503).send(jsonRpcError('Too many MCP sessions'));
      const namespace = opts.namespaceOf(req);
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void streamable.set(sid, { transport: created, namespace }),
      });
      const server = createMcpServer(opts.service, namespace, opts.sessions);
      const session: Session = { close: () => server.close() };
      all.add(session);
      created.onclose = () => {
        if (created.sessionId) streamable.delete(created.sessionId);
        all.delete(session);
      };
      await server.connect(created);
      transport = created;
    }
    reply.hijack();
    await transport.handleRequest(req.raw, reply.raw, req.body);
  });

  const existing = async (req: FastifyRequest, reply: FastifyReply) => {
    const transport = owned(req, reply, streamable.get(header(req, 'mcp-session-id') ?? ''));
    if (!transport) return reply;
    reply.hijack();
    await transport.handleRequest(req.raw, reply.raw);
  };
  app.get('/mcp', { onRequest: guard }, existing);
  app.delete('/mcp', { onRequest: guard }, existing);

  app.get('/sse', { onRequest: guard }, async (req, reply) => {
    if (sse.size >= opts.maxSessions) return reply.status(503).send(jsonRpcError('Too many MCP sessions'));
    reply.hijack();
    const transport = new SSEServerTransport('/message', reply.raw);
    const namespace = opts.namespaceOf(req);
    const server = createMcpServer(opts.service, namespace, opts.sessions);
    const session: Session = { close: () => server.close() };
    sse.set(transport.sessionId, { transport, namespace });
    all.add(session);
    transport.onclose = () => {
      sse.delete(transport.sessionId);
      all.delete(session);
    };
    reply.raw.on('close', () => void transport.close());
    await server.connect(transport);
  });

  app.post('/message', { onRequest: guard }, async (req, reply) => {
    const sessionId = (req.query as Record<string, string | undefined>).sessionId ?? '';
    const transport = owned(req, reply, sse.get(sessionId));
    if (!transport) return reply;
    reply.hijack();
    await transport.handlePostMessage(req.raw, reply.raw, req.body);
  });

  app.addHook('onClose', async () => {
    await Promise.all([...all].map((s) => s.close().catch(() => undefined)));
  });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function jsonRpcError(message: string) {
  return { jsonrpc: '2.0', error: { code: -32000, message }, id: null };
}
