// The REST API end to end in one process: fastify (inject), the ExecutionService, the scheduler,
// SQLite store and output log, and real runner child processes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecutionScheduler } from '../../src/controller/execution-scheduler.ts';
import { ExecutionService } from '../../src/gateway/execution-service.ts';
import { buildHttpApp } from '../../src/gateway/http-app.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';
import { openDatabase, type SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { SqliteExecutionStore } from '../../src/local/sqlite-execution-store.ts';
import { SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';

let dir: string;
let db: SqliteDatabase;
let runners: ChildRunnerPool;
let scheduler: ExecutionScheduler;
let app: FastifyInstance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rest-test-'));
  db = openDatabase(join(dir, 'mcp-v8.db'));
  runners = new ChildRunnerPool({ runners: 2 });
  await runners.whenReady();
  const store = new SqliteExecutionStore(db);
  const output = new SqliteOutputLog(db);
  scheduler = new ExecutionScheduler({ store, output, runners, maxConcurrent: 2, maxQueued: 3 });
  const service = new ExecutionService({
    store,
    output,
    scheduler,
    limits: { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 },
    maxCodeChars: 100_000,
  });
  app = buildHttpApp({ service, bodyLimit: 200_000 });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await scheduler?.stop();
  await runners?.close();
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = (url: string, payload?: unknown, headers?: Record<string, string>) =>
  app.inject({ method: 'POST', url, payload: payload as string, headers });
const get = (url: string) => app.inject({ method: 'GET', url });

describe('POST /api/exec', () => {
  it('returns the id at once (202) and the result later', async () => {
    const res = await post('/api/exec', { code: 'console.log("hello"); 1 + 1' });
    expect(res.statusCode).toBe(202);
    const { execution_id, status } = res.json<{ execution_id: string; status: string }>();
    expect(['queued', 'running']).toContain(status);
    let view: { status: string; result?: string };
    for (;;) {
      view = (await get(`/api/executions/${execution_id}`)).json();
      if (view.status !== 'queued' && view.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(view).toMatchObject({ status: 'completed', result: '2' });
    const out = (await get(`/api/executions/${execution_id}/output`)).json<{
      data: string;
      total_lines: number;
    }>();
    expect(out).toMatchObject({ data: 'hello\n', total_lines: 1 });
  });

  it('makes a logged line readable within 50 ms', async () => {
    const { execution_id: id } = (
      await post('/api/exec', {
        code: 'console.log(String(Date.now())); await new Promise((r) => setTimeout(r, 1000))',
      })
    ).json<{ execution_id: string }>();
    let seenAt = 0;
    let page: { data: string } = { data: '' };
    while (page.data === '') {
      page = (await get(`/api/executions/${id}/output`)).json();
      seenAt = Date.now();
      if (page.data === '') await new Promise((r) => setTimeout(r, 2));
    }
    expect(seenAt - Number(page.data.trim())).toBeLessThan(50);
    await post(`/api/executions/${id}/cancel`);
  });

  it('waits for completion in one request with ?wait=', async () => {
    const res = await post('/api/exec?wait=10', { code: '6 * 7' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'completed', result: '42' });
  });

  it('accepts raw code as text/plain', async () => {
    const res = await post('/api/exec?wait=10&language=typescript', 'const n: number = 5;\nn * 2', {
      'content-type': 'text/plain',
    });
    expect(res.json()).toMatchObject({ status: 'completed', result: '10', language: 'typescript' });
  });

  it.each([
    ['invalid JSON', '{"code": ', { 'content-type': 'application/json' }, 400, 'MCPV8_ERR_INPUT_INVALID'],
    ['a missing code field', { nope: 1 }, undefined, 400, 'MCPV8_ERR_INPUT_INVALID'],
    ['code of the wrong type', { code: 5 }, undefined, 400, 'MCPV8_ERR_INPUT_INVALID'],
    [
      'a heap cap out of range',
      { code: '1', heap_memory_max_mb: 128 },
      undefined,
      400,
      'MCPV8_ERR_LIMIT_HEAP_RANGE',
    ],
    [
      'a fractional timeout',
      { code: '1', execution_timeout_secs: 1.5 },
      undefined,
      400,
      'MCPV8_ERR_LIMIT_TIMEOUT_RANGE',
    ],
    ['an oversized body', { code: 'x'.repeat(300_000) }, undefined, 413, 'MCPV8_ERR_BODY_TOO_LARGE'],
    ['a wrong content type', '<code/>', { 'content-type': 'application/xml' }, 415, 'MCPV8_ERR_CONTENT_TYPE'],
  ])('rejects %s clearly', async (_name, payload, headers, status, code) => {
    const res = await post('/api/exec', payload, headers);
    expect(res.statusCode).toBe(status);
    expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code });
  });
});

describe('GET /api/executions/:id/output', () => {
  it('pages by lines and by bytes, reporting both coordinate systems', async () => {
    const { execution_id: id } = (
      await post('/api/exec?wait=10', { code: 'for (let i = 0; i < 5; i++) console.log("é" + i)' })
    ).json<{ execution_id: string }>();
    const byLines: unknown = (await get(`/api/executions/${id}/output?line_offset=1&line_limit=2`)).json();
    expect(byLines).toMatchObject({
      data: 'é1\né2\n',
      line_offset: 1,
      next_line_offset: 3,
      byte_offset: 4,
      next_byte_offset: 12,
      total_lines: 5,
      total_bytes: 20,
      has_more: true,
      status: 'completed',
    });
    // 3 bytes starting inside "é0\n": the page must not split the 2-byte é.
    const byBytes = (await get(`/api/executions/${id}/output?byte_offset=4&byte_limit=3`)).json<{
      data: string;
    }>();
    expect(byBytes.data).toBe('é1');
  });

  it.each([
    ['a negative offset', 'line_offset=-1'],
    ['a non-integer offset', 'line_offset=1.5'],
    ['text for a number', 'byte_limit=lots'],
    ['a limit above the maximum', 'line_limit=100000'],
    ['both coordinate systems', 'line_offset=0&byte_offset=0'],
  ])('rejects %s with 400', async (_name, query) => {
    const { execution_id: id } = (await post('/api/exec?wait=10', { code: '1' })).json<{
      execution_id: string;
    }>();
    const res = await get(`/api/executions/${id}/output?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('MCPV8_ERR_INPUT_INVALID');
  });
});

describe('reads, lists and cancellation', () => {
  it('answers 404 with a code for an unknown execution, on every route', async () => {
    for (const res of [
      await get('/api/executions/00000000-0000-0000-0000-000000000000'),
      await get('/api/executions/nope/output'),
      await post('/api/executions/nope/cancel'),
    ]) {
      expect(res.statusCode).toBe(404);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('MCPV8_ERR_EXEC_NOT_FOUND');
    }
    expect((await get('/api/nothing')).json<{ error: { code: string } }>().error.code).toBe(
      'MCPV8_ERR_ROUTE_NOT_FOUND',
    );
  });

  it('cancels a running execution, and the cancelled status sticks', async () => {
    const { execution_id: id } = (await post('/api/exec', { code: 'while (true) {}' })).json<{
      execution_id: string;
    }>();
    await new Promise((r) => setTimeout(r, 300));
    const res = await post(`/api/executions/${id}/cancel`);
    expect(res.json()).toMatchObject({ status: 'cancelled' });
    await new Promise((r) => setTimeout(r, 200));
    expect((await get(`/api/executions/${id}`)).json()).toMatchObject({ status: 'cancelled' });
    expect((await post(`/api/executions/${id}/cancel`)).statusCode).toBe(409);
  });

  it('cancels a queued execution and answers 429 when the queue is full', async () => {
    const ids: string[] = [];
    const statuses: number[] = [];
    let retryAfter: unknown;
    for (let i = 0; i < 6; i++) {
      const res = await post('/api/exec', { code: 'await new Promise((r) => setTimeout(r, 1500))' });
      statuses.push(res.statusCode);
      if (res.statusCode === 202) ids.push(res.json<{ execution_id: string }>().execution_id);
      else retryAfter = res.headers['retry-after'];
    }
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    const full = statuses.at(-1);
    expect(full).toBe(429);
    // A retryable refusal says when to come back.
    expect(retryAfter).toBe('1');
    const queued = ids.at(-1)!;
    expect((await get(`/api/executions/${queued}`)).json()).toMatchObject({ status: 'queued' });
    expect((await post(`/api/executions/${queued}/cancel`)).json()).toMatchObject({ status: 'cancelled' });
    for (const id of ids.slice(0, -1)) await post(`/api/executions/${id}/cancel`);
  });

  it('lists executions newest first with a status filter and cursor paging', async () => {
    for (let i = 0; i < 3; i++) await post('/api/exec?wait=10', { code: String(i) });
    const page1 = (await get('/api/executions?limit=2')).json<{
      executions: Array<{ created_at: string }>;
      next_cursor?: string;
    }>();
    expect(page1.executions).toHaveLength(2);
    expect(page1.next_cursor).toBeDefined();
    const page2 = (await get(`/api/executions?limit=2&cursor=${page1.next_cursor}`)).json<{
      executions: unknown[];
    }>();
    expect(page2.executions.length).toBeGreaterThan(0);
    const completed = (await get('/api/executions?status=completed')).json<{
      executions: Array<{ status: string }>;
    }>();
    expect(completed.executions.every((e) => e.status === 'completed')).toBe(true);
    expect((await get('/api/executions?status=bogus')).statusCode).toBe(400);
  });

  it('serves an OpenAPI document listing every route', async () => {
    const doc = (await get('/openapi.json')).json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/exec',
      '/api/executions',
      '/api/executions/{id}',
      '/api/executions/{id}/cancel',
      '/api/executions/{id}/output',
    ]);
  });

  it('reports health and readiness', async () => {
    expect((await get('/healthz')).statusCode).toBe(200);
    expect((await get('/readyz')).statusCode).toBe(200);
  });
});
