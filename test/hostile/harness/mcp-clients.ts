/**
 * MCP clients for the hostile suite: the SDK client (well-behaved, for tool calls) and raw
 * Streamable HTTP requests (for what a well-behaved client would never do: thousands of
 * initialize calls, requests held open, a GET stream that is never read).
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { HostileServer } from './hostile-server.ts';

const PROTOCOL = '2025-06-18';

/** A connected SDK client with `token`. */
export async function sdkClient(
  server: HostileServer,
  token: string,
  name = 'hostile-suite',
): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

export interface RawAnswer {
  status: number;
  sessionId?: string;
  /** JSON-RPC messages of the answer (an SSE stream's `data:` lines, or a JSON body). */
  messages: unknown[];
  text: string;
}

function headers(token: string, sessionId?: string): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL,
    ...(sessionId && { 'mcp-session-id': sessionId }),
  };
}

function parseMessages(text: string): unknown[] {
  const out: unknown[] = [];
  const tryParse = (s: string) => {
    try {
      out.push(JSON.parse(s));
    } catch {
      // not JSON: left out
    }
  };
  if (/^\s*[[{]/.test(text)) tryParse(text);
  else for (const line of text.split('\n')) if (line.startsWith('data:')) tryParse(line.slice(5).trim());
  return out;
}

/** POSTs one JSON-RPC message (or raw text) to /mcp and reads the whole answer. */
export async function rawPost(
  server: HostileServer,
  token: string,
  message: unknown,
  opts: { sessionId?: string; signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  const res = await fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: { ...headers(token, opts.sessionId), ...opts.headers },
    body: typeof message === 'string' ? message : JSON.stringify(message),
    signal: opts.signal ?? AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const sessionId = res.headers.get('mcp-session-id') ?? undefined;
  return { status: res.status, ...(sessionId && { sessionId }), messages: parseMessages(text), text };
}

export const initializeMessage = (id: number | string = 1, name = 'raw') => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name, version: '1' } },
});

/** initialize + notifications/initialized; the session id, or the refusal. */
export async function rawInitialize(server: HostileServer, token: string): Promise<RawAnswer> {
  const res = await rawPost(server, token, initializeMessage());
  if (res.status === 200 && res.sessionId) {
    await rawPost(
      server,
      token,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { sessionId: res.sessionId },
    );
  }
  return res;
}

let nextId = 100;

/** One JSON-RPC request in a session; its result (or error) message. */
export async function rawCall(
  server: HostileServer,
  token: string,
  sessionId: string,
  method: string,
  params: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; result?: unknown; error?: unknown }> {
  const id = nextId++;
  const res = await rawPost(server, token, { jsonrpc: '2.0', id, method, params }, { sessionId, signal });
  const reply = res.messages.find((m) => (m as { id?: unknown }).id === id) as
    { result?: unknown; error?: unknown } | undefined;
  return { status: res.status, ...(reply && { result: reply.result, error: reply.error }) };
}

export async function rawDelete(server: HostileServer, token: string, sessionId: string): Promise<number> {
  const res = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: headers(token, sessionId) });
  await res.text();
  return res.status;
}

/** POSTs initialize with a Host header of our choosing (fetch does not let one be set). */
export function initializeWithHost(server: HostileServer, token: string, host: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${server.url}/mcp`);
    const body = JSON.stringify(initializeMessage());
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: '/mcp',
        method: 'POST',
        headers: { ...headers(token), host },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, messages: parseMessages(text), text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Opens the session's GET /mcp stream and never reads it: the response is paused as soon as it
 * arrives, so the socket's buffers fill and whatever the server sends queues on its side.
 */
export function openUnreadStream(
  server: HostileServer,
  token: string,
  sessionId: string,
): Promise<{ status: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${server.url}/mcp`);
    const req: ClientRequest = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: '/mcp',
        method: 'GET',
        headers: { ...headers(token, sessionId), accept: 'text/event-stream' },
      },
      (res) => {
        res.pause();
        resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
