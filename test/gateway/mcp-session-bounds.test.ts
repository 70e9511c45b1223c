// Hostile MCP clients against a real embedded server with small session bounds: abandoned
// sessions expire when idle (their id then answers 404, so clients initialize anew), a flood of
// initialize calls cannot lock later clients out, a client whose sessions are all busy is refused
// with a clear 429 while other clients are not, and DELETE /mcp frees a slot.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './session-fixtures.ts';

const TOKENS = ['token-flood-000000', 'token-busy-0000000', 'token-other-000000', 'token-close-000000'];
const [FLOOD, BUSY, OTHER, CLOSER] = TOKENS as [string, string, string, string];
const PER_CLIENT = 2;

/** The server under test; each describe block starts its own. */
let s: TestServer;

/** A server with small session bounds; `idleSecs` of idle expiry. */
function serverWithBounds(idleSecs: number): void {
  beforeAll(async () => {
    s = await startTestServer('stateless', [
      '--mcp-session-idle-timeout',
      String(idleSecs),
      '--mcp-max-sessions-per-client',
      String(PER_CLIENT),
      '--mcp-max-sessions',
      '8',
      ...TOKENS.flatMap((t) => ['--auth-token', t]),
    ]);
  });
  afterAll(async () => {
    await s?.close();
  });
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function mcpPost(token: string, body: unknown, sessionId?: string): Promise<Response> {
  return fetch(`${s.url}/mcp`, {
    method: 'POST',
    headers: {
      ...MCP_HEADERS,
      authorization: `Bearer ${token}`,
      ...(sessionId !== undefined && { 'mcp-session-id': sessionId }),
    },
    body: JSON.stringify(body),
  });
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** A raw initialize, left open; returns the answer and the session id it gave. */
async function initialize(token: string): Promise<{ status: number; sessionId?: string; text: string }> {
  const res = await mcpPost(token, INITIALIZE);
  const text = await res.text();
  return { status: res.status, sessionId: res.headers.get('mcp-session-id') ?? undefined, text };
}

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'bounds-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** A metric's value from GET /metrics (summed over labels matching `labels`). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (
    await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${FLOOD}` } })
  ).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (!labels && line.startsWith(`${name}{`)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Polls `check` (a request to the server) until it holds; a bounded number of rounds. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition never held');
}

describe('MCP session idle expiry', () => {
  serverWithBounds(1);

  it('expires an idle session; its id then answers 404 with a stable code', async () => {
    const expired = () => metric('mcpv8_mcp_sessions_ended_total', 'reason="expired"');
    const before = await expired();
    const { sessionId } = await initialize(OTHER);
    expect(sessionId).toBeDefined();
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    expect((await mcpPost(OTHER, ping, sessionId)).status).toBe(200);
    // Watched from outside the session: a request on it would keep it alive.
    await eventually(async () => (await expired()) > before);
    const last = await mcpPost(OTHER, ping, sessionId);
    expect(last.status).toBe(404);
    const body = (await last.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32001);
    expect(body.error.message).toContain('MCPV8_ERR_MCP_SESSION_NOT_FOUND');
  });

  it('ends an idle legacy SSE session: its stream closes', async () => {
    const url = new URL(`${s.url}/sse`);
    const ended = new Promise<string>((resolve, reject) => {
      const req = request(url, {
        headers: { authorization: `Bearer ${CLOSER}`, accept: 'text/event-stream' },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    const text = await ended;
    const sessionId = /sessionId=([\w-]+)/.exec(text)?.[1];
    expect(sessionId).toBeDefined();
    const post = await fetch(`${s.url}/message?sessionId=${sessionId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CLOSER}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect(post.status).toBe(404);
  });
});

describe('MCP session bounds', () => {
  serverWithBounds(1800);

  it('a flood of abandoned initialize calls does not lock later clients out', async () => {
    for (let i = 0; i < 40; i++) expect((await initialize(FLOOD)).status).toBe(200);
    expect(await metric('mcpv8_mcp_sessions')).toBeLessThanOrEqual(8);
    // The same client (same token) and another one still get sessions and work.
    for (const token of [FLOOD, OTHER]) {
      const client = await connect(token);
      const res = await client.callTool({ name: 'list_executions', arguments: { limit: 1 } });
      expect(res.isError).toBeFalsy();
      await client.close();
    }
  });

  it('refuses a client whose sessions are all busy with a clear 429, not others; a freed slot admits it', async () => {
    const submitted = await fetch(`${s.url}/api/exec`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BUSY}` },
      body: JSON.stringify({
        code: 'await new Promise((r) => setTimeout(r, 600_000))',
        execution_timeout_secs: 300,
      }),
    });
    const { execution_id } = (await submitted.json()) as { execution_id: string };
    // Each of the client's sessions waits for that execution: a request in flight.
    const waits: Response[] = [];
    for (let i = 0; i < PER_CLIENT; i++) {
      const { sessionId } = await initialize(BUSY);
      const call = {
        jsonrpc: '2.0',
        id: 10 + i,
        method: 'tools/call',
        params: { name: 'get_execution', arguments: { execution_id, wait_seconds: 50 } },
      };
      waits.push(await mcpPost(BUSY, call, sessionId));
    }
    const refused = await mcpPost(BUSY, INITIALIZE);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as {
      id: unknown;
      error: { message: string; data: { code: string; retryable: boolean } };
    };
    expect(body.id).toBe(1);
    expect(body.error.message).toContain('MCPV8_ERR_MCP_SESSION_LIMIT');
    expect(body.error.data).toMatchObject({ code: 'MCPV8_ERR_MCP_SESSION_LIMIT', retryable: true });
    // The MCP SDK client surfaces the code.
    await expect(connect(BUSY)).rejects.toThrow(/MCPV8_ERR_MCP_SESSION_LIMIT/);
    // Another client is not affected.
    expect((await initialize(OTHER)).status).toBe(200);

    // The execution ends, so the waits are answered: the sessions are idle and make room again.
    await fetch(`${s.url}/api/executions/${execution_id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${BUSY}` },
    });
    for (const w of waits) expect(await w.text()).toContain('cancelled');
    expect((await initialize(BUSY)).status).toBe(200);
  });

  it('DELETE /mcp closes a session and frees its slot', async () => {
    const { sessionId } = await initialize(CLOSER);
    const before = await metric('mcpv8_mcp_sessions');
    const del = await fetch(`${s.url}/mcp`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${CLOSER}`, 'mcp-session-id': sessionId! },
    });
    expect(del.status).toBe(200);
    expect(await metric('mcpv8_mcp_sessions')).toBe(before - 1);
    const after = await mcpPost(CLOSER, { jsonrpc: '2.0', id: 3, method: 'ping' }, sessionId);
    expect(after.status).toBe(404);
  });
});
