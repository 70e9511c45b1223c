// A hostile MCP client that asks for console notifications (logging/setLevel debug), opens its
// stream and never reads it, then runs chatty executions: the bytes the gateway queues toward it
// stay bounded (notifications past the stream buffer are dropped, counted in /metrics), the
// gateway's memory does not grow with the output, and a client that catches up is told how many
// notifications it missed. For Streamable HTTP (GET /mcp) and the legacy SSE transport.
import { request, type IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './session-fixtures.ts';

/**
 * Short lines of alternating levels: the most notifications for the output cap (a run of lines
 * of one level travels as one notification, so every line here is one).
 */
const CHATTY = "for (let i = 0; i < 50000; i++) (i % 2 ? console.log : console.warn)('x'); 1";
/**
 * Growth of the memory the gateway retains (this process, after a full GC) allowed over the
 * chatty executions; each queued ≈ 25 MB toward its client before the bound.
 */
const MEMORY_BOUND = 16 * 1024 * 1024;
/** Runs executions and their reads at a generous pace on a shared machine. */
const SLOW = 180_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer('stateless', ['--mcp-stream-buffer-kib', '64']);
});
afterAll(async () => {
  await s?.close();
});

/** Memory the gateway retains in this process: JS heap and buffers outside it, after a full GC. */
function gatewayMemory(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Every execution, through the REST API. */
async function executions(): Promise<Array<{ execution_id: string; status: string }>> {
  const res = await fetch(`${s.url}/api/executions?limit=1000`);
  return ((await res.json()) as { executions: Array<{ execution_id: string; status: string }> }).executions;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Opens a GET stream with a raw client that pauses it at once and reads nothing. */
function openUnread(path: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`${s.url}${path}`), { headers: { accept: 'text/event-stream', ...headers } });
    req.on('response', (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with everything read from `res` once `marker` has arrived. */
function readUntil(res: IncomingMessage, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Chunks are small and many: keep them apart and search only the newest, not the whole text.
    const chunks: string[] = [];
    let tail = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      chunks.push(chunk);
      const window = tail + chunk;
      if (window.includes(marker)) resolve(chunks.join(''));
      tail = window.slice(-marker.length);
    });
    res.on('error', reject);
    res.on('close', () => reject(new Error(`stream closed after ${chunks.length} chunks`)));
    res.resume();
  });
}

describe('Streamable HTTP: a client that never reads its GET stream', () => {
  let sessionId: string;
  let nextId = 1;

  /** A JSON-RPC answer; tool calls here answer with an execution. */
  interface Answer {
    result: { structuredContent: { execution_id: string; status: string } };
  }

  async function rpc(method: string, params: unknown): Promise<Answer> {
    const id = nextId++;
    const res = await fetch(`${s.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...(sessionId !== undefined && { 'mcp-session-id': sessionId }),
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
    });
    sessionId ??= res.headers.get('mcp-session-id')!;
    const text = await res.text();
    const data = text.split('\n').find((l) => l.startsWith('data: ') && l.includes(`"id":${id}`));
    return JSON.parse(data!.slice('data: '.length)) as Answer;
  }

  async function runAndWait(code: string): Promise<string> {
    const started = await rpc('tools/call', {
      name: 'run_js',
      arguments: { code, execution_timeout_secs: 120 },
    });
    const id = started.result.structuredContent.execution_id;
    for (;;) {
      const got = await rpc('tools/call', {
        name: 'get_execution',
        arguments: { execution_id: id, wait_seconds: 50 },
      });
      const status = got.result.structuredContent.status;
      if (status !== 'queued' && status !== 'running') return status;
    }
  }

  it(
    'drops notifications past the buffer instead of queueing them; memory stays bounded',
    async () => {
      await rpc('initialize', {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'hostile', version: '1' },
      });
      await fetch(`${s.url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
        },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      });
      await rpc('logging/setLevel', { level: 'debug' });
      const stream = await openUnread('/mcp', { 'mcp-session-id': sessionId });
      const before = gatewayMemory();
      for (let i = 0; i < 2; i++) expect(await runAndWait(CHATTY)).toBe('completed');
      expect(gatewayMemory() - before).toBeLessThan(MEMORY_BOUND);
      expect(await metric('mcpv8_mcp_notifications_dropped_total')).toBeGreaterThan(0);

      // The client reads at last: once it has caught up, the next notification comes after a
      // marker of what it missed (lines printed while it still drains its backlog are dropped).
      let arrived = false;
      const caughtUp = readUntil(stream, '"text":"after"').then((text) => {
        arrived = true;
        return text;
      });
      for (let i = 0; i < 50 && !arrived; i++) {
        expect(await runAndWait("console.log('after'); 1")).toBe('completed');
      }
      const text = await caughtUp;
      expect(text).toContain('dropped_notifications');
      expect(text.indexOf('dropped_notifications')).toBeLessThan(text.indexOf('"text":"after"'));
      stream.destroy();
    },
    SLOW,
  );
});

describe('legacy SSE: a client that never reads its stream', () => {
  it(
    'drops notifications past the buffer; memory stays bounded',
    async () => {
      // The endpoint event (with the session id) must be read; nothing after it is.
      const stream = await openUnread('/sse', {});
      const first = await readUntil(stream, 'sessionId=');
      stream.pause();
      stream.removeAllListeners('data');
      stream.removeAllListeners('close');
      const sessionId = /sessionId=([\w-]+)/.exec(first)![1]!;
      const post = (body: unknown) =>
        fetch(`${s.url}/message?sessionId=${sessionId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      await post({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'hostile', version: '1' },
        },
      });
      await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await post({ jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'debug' } });
      const droppedBefore = await metric('mcpv8_mcp_notifications_dropped_total');
      const before = gatewayMemory();
      for (let i = 0; i < 2; i++) {
        // The answer goes down the unread stream: find the execution through the REST API.
        const known = new Set((await executions()).map((e) => e.execution_id));
        expect(
          (
            await post({
              jsonrpc: '2.0',
              id: 10 + i,
              method: 'tools/call',
              params: { name: 'run_js', arguments: { code: CHATTY, execution_timeout_secs: 120 } },
            })
          ).status,
        ).toBe(202);
        let status = 'queued';
        for (let round = 0; round < 600 && (status === 'queued' || status === 'running'); round++) {
          const mine = (await executions()).find((e) => !known.has(e.execution_id));
          status = mine?.status ?? 'queued';
          if (status === 'queued' || status === 'running') await new Promise((r) => setTimeout(r, 100));
        }
        expect(status).toBe('completed');
      }
      expect(gatewayMemory() - before).toBeLessThan(MEMORY_BOUND);
      expect(await metric('mcpv8_mcp_notifications_dropped_total')).toBeGreaterThan(droppedBefore);
      stream.destroy();
    },
    SLOW,
  );
});
