/**
 * MCP over HTTP on the gateway's fastify server: Streamable HTTP at `/mcp` (with sessions) and
 * the legacy SSE transport at `/sse` + `/message`. Each session gets its own McpServer. Requests
 * whose Host or Origin is not one of ours are refused (DNS-rebinding protection). A session
 * belongs to the tenant that created it: a request on it from another tenant is refused.
 *
 * Hostile clients are bounded: sessions expire when idle and are limited per client and in total
 * (mcp-session-registry.ts); bytes queued toward a client that does not read its stream are
 * bounded (sse-backlog.ts); and when a session ends, every response of it still open is
 * destroyed, so nothing queued toward a vanished client stays in memory.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Mcpv8Error, isMcpv8Error } from '../../core/index.ts';
import type { ExecutionService } from '../execution-service.ts';
import type { SessionService } from '../session-service.ts';
import { createMcpServer } from './mcp-server.ts';
import { McpSessionRegistry, type McpSessionLimits } from './mcp-session-registry.ts';
import { cancelledKeys, requestKeys, responseKey } from './json-rpc-keys.ts';
import {
  PulledStreamMeter,
  boundStreamBacklog,
  isResponse,
  responseMeter,
  type BacklogCounts,
} from './sse-backlog.ts';

export interface McpHttpOptions {
  service: ExecutionService;
  /** Stateful mode: sessions and heap tags. */
  sessions?: SessionService;
  namespaceOf: (req: FastifyRequest) => string;
  /** Who a request comes from, for the per-client session bound (caller identity or address). */
  clientOf: (req: FastifyRequest) => string;
  /** Host header values accepted (e.g. `127.0.0.1:3000`, `localhost:3000`). Empty: any. */
  allowedHosts: readonly string[];
  /** Origin header values accepted when a browser sends one. Empty: any. */
  allowedOrigins: readonly string[];
  /** Session bounds: total, per client, idle expiry. */
  limits: McpSessionLimits;
  /** Most bytes queued toward one client's SSE stream before its notifications are dropped. */
  streamBufferBytes: number;
}

/** Live counts of the MCP front, for metrics and tests. */
export interface McpHttpStats {
  sessions: ReturnType<McpSessionRegistry['counts']>;
  droppedNotifications: number;
  closedStreams: number;
}

/** One open session of either transport. */
interface Session {
  readonly id: string;
  readonly namespace: string;
  readonly transport: StreamableHTTPServerTransport | SSEServerTransport;
  /** Raw responses of the session still open; destroyed when the session ends. */
  readonly responses: Set<ServerResponse>;
  /** Streamable HTTP: the meter of the open GET stream, if one is open. */
  stream?: PulledStreamMeter;
}

export function registerMcpHttpRoutes(app: FastifyInstance, opts: McpHttpOptions): () => McpHttpStats {
  const streamable = new Map<string, Session>();
  const sse = new Map<string, Session>();
  const registry = new McpSessionRegistry(opts.limits);
  const backlogs = new Set<BacklogCounts>();
  const ended = { droppedNotifications: 0, closedStreams: 0 };

  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    const host = req.headers.host ?? '';
    const origin = req.headers.origin;
    if (opts.allowedHosts.length > 0 && !opts.allowedHosts.includes(host)) {
      return reply.status(403).send(jsonRpcError(-32000, `Host ${host.slice(0, 100)} is not allowed`));
    }
    if (origin !== undefined && opts.allowedOrigins.length > 0 && !opts.allowedOrigins.includes(origin)) {
      return reply.status(403).send(jsonRpcError(-32000, `Origin ${origin.slice(0, 100)} is not allowed`));
    }
  };

  /** The session if the caller is its tenant; else the reply was sent. */
  const owned = (
    req: FastifyRequest,
    reply: FastifyReply,
    id: string | undefined,
    map: Map<string, Session>,
  ) => {
    const session = id === undefined ? undefined : map.get(id);
    if (!session) {
      const e = new Mcpv8Error('MCPV8_ERR_MCP_SESSION_NOT_FOUND', [(id ?? '').slice(0, 64)]);
      // -32001: the SDK's own code for an unknown session; 404 tells clients to initialize anew.
      void reply.status(404).send(jsonRpcError(-32001, `${e.code}: ${e.message}`, { code: e.code }));
      return undefined;
    }
    if (session.namespace !== opts.namespaceOf(req)) {
      void reply
        .status(403)
        .send(jsonRpcError(-32000, 'MCPV8_ERR_AUTH_FORBIDDEN: the session belongs to another tenant'));
      return undefined;
    }
    return session;
  };

  /** Admits a new session of the caller, or answers 429 and returns false. */
  const admit = (req: FastifyRequest, reply: FastifyReply, client: string): boolean => {
    try {
      registry.admit(client);
      return true;
    } catch (err) {
      if (!isMcpv8Error(err)) throw err;
      const id = (req.body as { id?: unknown } | undefined)?.id;
      void reply
        .status(err.statusCode)
        .header('retry-after', '1')
        .send(
          jsonRpcError(
            -32000,
            `${err.code}: ${err.message}`,
            { code: err.code, retryable: err.retryable, ...err.details },
            typeof id === 'string' || typeof id === 'number' ? id : null,
          ),
        );
      return false;
    }
  };

  /** Creates a session's McpServer and the bookkeeping shared by both transports. */
  const open = async (
    session: Session,
    client: string,
    map: Map<string, Session>,
    streamFor: Parameters<typeof boundStreamBacklog>[2],
  ) => {
    const server = createMcpServer(opts.service, session.namespace, opts.sessions);
    const transport: Transport = session.transport;
    map.set(session.id, session);
    registry.add(session.id, client, () => server.close());
    const backlog = boundStreamBacklog(transport, opts.streamBufferBytes, streamFor);
    backlogs.add(backlog);
    // Outermost: a response ends its request's activity even when the backlog gate held it back.
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      const key = isResponse(message) ? responseKey(message) : undefined;
      if (key !== undefined) registry.end(session.id, key);
      return send(message, options);
    };
    transport.onclose = () => {
      map.delete(session.id);
      registry.remove(session.id);
      backlogs.delete(backlog);
      ended.droppedNotifications += backlog.dropped;
      ended.closedStreams += backlog.closedStreams;
      // A closed stream may still hold what its client never read: let it go now.
      for (const res of session.responses) res.destroy();
      session.responses.clear();
    };
    await server.connect(transport);
    return server;
  };

  /** Marks the JSON-RPC requests of a POST body as in flight; returns their keys. */
  const received = (session: Session, body: unknown): string[] => {
    const keys = requestKeys(body);
    for (const key of keys) registry.begin(session.id, key);
    // A cancelled request gets no response: it ends here.
    for (const key of cancelledKeys(body)) registry.end(session.id, key);
    registry.touch(session.id);
    return keys;
  };

  const keep = (session: Session, res: ServerResponse) => {
    session.responses.add(res);
    // Finished responses are out of this process; destroying one could cut its last bytes.
    const forget = () => session.responses.delete(res);
    res.once('finish', forget);
    res.once('close', forget);
  };

  app.post('/mcp', { onRequest: guard }, async (req, reply) => {
    const id = header(req, 'mcp-session-id');
    if (id !== undefined) {
      const session = owned(req, reply, id, streamable);
      if (!session) return reply;
      const keys = received(session, req.body);
      keep(session, reply.raw);
      reply.hijack();
      try {
        await (session.transport as StreamableHTTPServerTransport).handleRequest(
          req.raw,
          reply.raw,
          req.body,
        );
      } finally {
        // Answered, refused by the SDK, or the client went away: none is in flight any more.
        for (const key of keys) registry.end(session.id, key);
      }
      return;
    }
    if (!isInitializeRequest(req.body)) {
      return reply.status(400).send(jsonRpcError(-32000, 'No session: the first request must be initialize'));
    }
    const client = opts.clientOf(req);
    if (!admit(req, reply, client)) return reply;
    const sid = randomUUID();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => sid });
    const session: Session = { id: sid, namespace: opts.namespaceOf(req), transport, responses: new Set() };
    // Only server-initiated messages go to the GET stream; responses go to their request's stream.
    const server = await open(session, client, streamable, (message, options) =>
      options?.relatedRequestId === undefined && !isResponse(message) ? session.stream : undefined,
    );
    const keys = received(session, req.body);
    keep(session, reply.raw);
    reply.hijack();
    try {
      await transport.handleRequest(req.raw, reply.raw, req.body);
    } finally {
      for (const key of keys) registry.end(session.id, key);
    }
    // The SDK refused the initialize (bad body): no session exists to keep.
    if (transport.sessionId === undefined) await server.close();
  });

  app.get('/mcp', { onRequest: guard }, async (req, reply) => {
    const session = owned(req, reply, header(req, 'mcp-session-id'), streamable);
    if (!session) return reply;
    registry.touch(session.id);
    const res = reply.raw;
    // The SDK allows one GET stream per session (a second is refused with 409).
    if (!session.stream) {
      const meter = new PulledStreamMeter(res);
      session.stream = meter;
      res.once('close', () => {
        if (session.stream === meter) session.stream = undefined;
      });
    }
    keep(session, res);
    reply.hijack();
    await (session.transport as StreamableHTTPServerTransport).handleRequest(req.raw, res);
  });

  app.delete('/mcp', { onRequest: guard }, async (req, reply) => {
    const session = owned(req, reply, header(req, 'mcp-session-id'), streamable);
    if (!session) return reply;
    reply.hijack();
    // Closing the session frees its slot (the transport's onclose).
    await (session.transport as StreamableHTTPServerTransport).handleRequest(req.raw, reply.raw);
  });

  app.get('/sse', { onRequest: guard }, async (req, reply) => {
    const client = opts.clientOf(req);
    if (!admit(req, reply, client)) return reply;
    reply.hijack();
    const res = reply.raw;
    const transport = new SSEServerTransport('/message', res);
    const session: Session = {
      id: transport.sessionId,
      namespace: opts.namespaceOf(req),
      transport,
      responses: new Set([res]),
    };
    // Everything of a legacy session, responses included, goes down its one stream.
    const meter = responseMeter(res);
    res.on('close', () => void transport.close());
    await open(session, client, sse, () => meter);
  });

  app.post('/message', { onRequest: guard }, async (req, reply) => {
    const sessionId = (req.query as Record<string, unknown>).sessionId;
    const session = owned(req, reply, typeof sessionId === 'string' ? sessionId : undefined, sse);
    if (!session) return reply;
    const keys = received(session, req.body);
    reply.hijack();
    try {
      await (session.transport as SSEServerTransport).handlePostMessage(req.raw, reply.raw, req.body);
    } finally {
      // Refused messages get no response on the stream: they are not in flight.
      if (reply.raw.statusCode !== 202) for (const key of keys) registry.end(session.id, key);
    }
  });

  // preClose, not onClose: fastify waits for open requests before onClose, and a session's
  // stream stays open until the session is closed.
  app.addHook('preClose', async () => {
    await registry.closeAll();
  });

  return () => {
    let dropped = ended.droppedNotifications;
    let closed = ended.closedStreams;
    for (const b of backlogs) {
      dropped += b.dropped;
      closed += b.closedStreams;
    }
    return { sessions: registry.counts(), droppedNotifications: dropped, closedStreams: closed };
  };
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function jsonRpcError(
  code: number,
  message: string,
  data?: Record<string, unknown>,
  id: string | number | null = null,
) {
  return { jsonrpc: '2.0', error: { code, message, ...(data && { data }) }, id };
}
