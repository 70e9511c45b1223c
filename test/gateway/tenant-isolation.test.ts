// The HTTP app with an authenticator and per-tenant stores, without a cluster: two tenants
// (tokens tok-a / tok-b) must not see each other's executions, output, heaps, tags or MCP
// sessions; health probes stay open and a request without a valid token gets 401. Stores are
// local (SQLite, directories), one set per namespace, behind the TenantStores interface the
// cluster gateway uses.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FastifyInstance } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mcpv8Error, type HeapStore, type OutputLog } from '../../src/core/index.ts';
import type { Authenticator } from '../../src/gateway/auth/authenticator.ts';
import type { ExecutionQueue } from '../../src/gateway/execution-queue.ts';
import { ExecutionService } from '../../src/gateway/execution-service.ts';
import { buildHttpApp } from '../../src/gateway/http-app.ts';
import { SessionService } from '../../src/gateway/session-service.ts';
import type { SessionStores, TenantStores } from '../../src/core/tenant-stores.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';
import { openSessionDatabase } from '../../src/local/session-database.ts';
import { openDatabase, type SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { SqliteExecutionStore } from '../../src/local/sqlite-execution-store.ts';
import { SqliteHeapTagStore } from '../../src/local/sqlite-heap-tags.ts';
import { SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';
import { SqliteSessionLog } from '../../src/local/sqlite-session-log.ts';
import { sampleNode } from '../contract/heap-store.contract.ts';

const TOKENS: Record<string, string> = { 'tok-a': 'ns-a', 'tok-b': 'ns-b' };
const authenticator: Authenticator = {
  authenticate: async (token) => {
    const namespace = token === undefined ? undefined : TOKENS[token];
    if (!namespace) throw new Mcpv8Error('MCPV8_ERR_AUTH_REQUIRED');
    return { namespace, subject: `system:serviceaccount:${namespace}:agent` };
  },
};

/** Records stay queued: nothing runs them here. */
const queue: ExecutionQueue = {
  assertCapacity: () => {},
  submit: () => {},
  cancel: (_ns, id) => Promise.reject(new Mcpv8Error('MCPV8_ERR_EXEC_NOT_FOUND', [id])),
};

let dir: string;
const dbs: SqliteDatabase[] = [];
const outputs = new Map<string, OutputLog>();
const heaps = new Map<string, HeapStore>();
const sessions = new Map<string, SessionStores>();
let app: FastifyInstance;
let url: string;

function tenant(ns: string): void {
  const db = openDatabase(join(dir, `${ns}.db`));
  const sdb = openSessionDatabase(join(dir, `${ns}-sessions`));
  dbs.push(db, sdb);
  outputs.set(ns, new SqliteOutputLog(db));
  heaps.set(ns, new DirHeapStore(join(dir, `${ns}-heaps`)));
  sessions.set(ns, { log: new SqliteSessionLog(sdb), tags: new SqliteHeapTagStore(sdb) });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tenants-test-'));
  tenant('ns-a');
  tenant('ns-b');
  const db = openDatabase(join(dir, 'executions.db'));
  dbs.push(db);
  const tenants: TenantStores = {
    stateful: true,
    output: async (ns) => outputs.get(ns)!,
    heaps: (ns) => heaps.get(ns),
    sessions: async (ns) => sessions.get(ns),
  };
  const service = new ExecutionService({
    store: new SqliteExecutionStore(db),
    scheduler: queue,
    tenants,
    limits: { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 },
    maxCodeChars: 100_000,
  });
  app = buildHttpApp({
    service,
    sessions: new SessionService({ tenants }),
    bodyLimit: 200_000,
    authenticator,
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  for (const db of dbs) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (method: string, path: string, token?: string, body?: unknown) =>
  fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });

describe('authentication', () => {
  it('keeps health probes open and refuses everything else without a valid token', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/readyz')).status).toBe(200);
    const res = await call('GET', '/api/executions');
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('MCPV8_ERR_AUTH_REQUIRED');
    expect((await call('GET', '/api/executions', 'wrong')).status).toBe(401);
    expect((await call('POST', '/mcp', 'wrong', {})).status).toBe(401);
  });
});

describe('tenant isolation', () => {
  let id: string;

  beforeAll(async () => {
    const res = await call('POST', '/api/exec', 'tok-a', { code: '1 + 1' });
    expect(res.status).toBe(202);
    id = ((await res.json()) as { execution_id: string }).execution_id;
    await outputs.get('ns-a')!.append(id, [{ level: 'log', text: 'hello from a' }]);
  });

  it('shows an execution to its tenant only', async () => {
    expect((await call('GET', `/api/executions/${id}`, 'tok-a')).status).toBe(200);
    expect((await call('GET', `/api/executions/${id}`, 'tok-b')).status).toBe(404);
    const listB = (await (await call('GET', '/api/executions', 'tok-b')).json()) as { executions: unknown[] };
    expect(listB.executions).toEqual([]);
    const listA = (await (await call('GET', '/api/executions', 'tok-a')).json()) as {
      executions: Array<{ execution_id: string }>;
    };
    expect(listA.executions.map((e) => e.execution_id)).toEqual([id]);
  });

  it("reads output from the caller's own log", async () => {
    const a = await call('GET', `/api/executions/${id}/output`, 'tok-a');
    expect(a.status).toBe(200);
    expect(JSON.stringify(await a.json())).toContain('hello from a');
    expect((await call('GET', `/api/executions/${id}/output`, 'tok-b')).status).toBe(404);
  });

  it("resolves heaps, tags and sessions in the caller's namespace", async () => {
    const heap = await heaps.get('ns-a')!.put(sampleNode('a'));
    expect((await call('PUT', `/api/heaps/${heap}/tags`, 'tok-a', { tags: { k: 'v' } })).status).toBe(200);
    expect((await call('GET', `/api/heaps/${heap}/tags`, 'tok-b')).status).toBe(404);
    const query = (await (await call('POST', '/api/heaps/query', 'tok-b', { tags: { k: 'v' } })).json()) as {
      heaps: unknown[];
    };
    expect(query.heaps).toEqual([]);
    // Resuming another tenant's heap: unknown here.
    expect((await call('POST', '/api/exec', 'tok-b', { code: '1', heap })).status).toBe(404);
    await sessions.get('ns-a')!.log.append('s1', {
      inputHeap: null,
      outputHeap: heap,
      code: 'a',
      timestamp: new Date().toISOString(),
    });
    const a = (await (await call('GET', '/api/sessions', 'tok-a')).json()) as { sessions: string[] };
    const b = (await (await call('GET', '/api/sessions', 'tok-b')).json()) as { sessions: string[] };
    expect(a.sessions).toEqual(['s1']);
    expect(b.sessions).toEqual([]);
  });

  it('binds an MCP session to the tenant that created it', async () => {
    const client = new Client({ name: 'test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: 'Bearer tok-a' } },
    });
    await client.connect(transport);
    try {
      const listed = await client.callTool({ name: 'list_executions', arguments: {} });
      expect(JSON.stringify(listed.structuredContent)).toContain(id);
      const sid = transport.sessionId!;
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-06-18',
      };
      const body = JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list', params: {} });
      const asB = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { ...headers, authorization: 'Bearer tok-b' },
        body,
      });
      expect(asB.status).toBe(403);
      expect(JSON.stringify(await asB.json())).toContain('MCPV8_ERR_AUTH_FORBIDDEN');
      const getAsB = await fetch(`${url}/mcp`, { headers: { ...headers, authorization: 'Bearer tok-b' } });
      expect(getAsB.status).toBe(403);
    } finally {
      await client.close();
    }
  });
});
