// The session and heap-tag REST routes against a real embedded server in each mode: absent when
// stateless (and heap/session/tags refused on POST /api/exec), complete when stateful.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putHeap, startTestServer, type TestServer } from './session-fixtures.ts';

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  body: Json;
}

async function request(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}
const codeOf = (a: Answer) => (a.body.error as { code: string } | undefined)?.code;

describe('REST sessions on a stateless server', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('stateless');
  });
  afterAll(() => s?.close());

  it('has no session or tag routes', async () => {
    for (const [method, path] of [
      ['GET', '/api/sessions'],
      ['GET', '/api/sessions/x/snapshots'],
      ['GET', `/api/heaps/${'a'.repeat(64)}/tags`],
      ['POST', '/api/heaps/query'],
    ] as const) {
      const res = await request(s.url, method, path, method === 'POST' ? { tags: { a: '1' } } : undefined);
      expect(res.status, path).toBe(404);
      expect(codeOf(res)).toBe('MCPV8_ERR_ROUTE_NOT_FOUND');
    }
  });

  it('refuses heap, session and tags on POST /api/exec with MCPV8_ERR_SESSION_STATELESS', async () => {
    for (const extra of [{ heap: 'a'.repeat(64) }, { session: 'x' }, { tags: { a: '1' } }]) {
      const res = await request(s.url, 'POST', '/api/exec', { code: '1', ...extra });
      expect(res.status).toBe(400);
      expect(codeOf(res)).toBe('MCPV8_ERR_SESSION_STATELESS');
    }
    const plain = await fetch(`${s.url}/api/exec?heap=${'a'.repeat(64)}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '1',
    });
    expect(plain.status).toBe(400);
  });

  it('documents no session routes and no heap argument', async () => {
    const doc = (await request(s.url, 'GET', '/openapi.json')).body as { paths: Json };
    expect(Object.keys(doc.paths).some((p) => p.includes('session') || p.includes('heaps'))).toBe(false);
    const exec = doc.paths['/api/exec'] as { post: { requestBody: unknown; parameters: unknown } };
    expect(JSON.stringify([exec.post.requestBody, exec.post.parameters])).not.toMatch(
      /"(heap|session|tags)"/,
    );
  });
});

describe('REST sessions on a stateful server', () => {
  let s: TestServer;
  let h1: string;
  let h2: string;
  let h3: string;
  beforeAll(async () => {
    s = await startTestServer('stateful');
    [h1, h2, h3] = await Promise.all([
      putHeap(s.heaps!, 'a'),
      putHeap(s.heaps!, 'b'),
      putHeap(s.heaps!, 'c'),
    ]);
  });
  afterAll(() => s?.close());
  const call = (method: string, path: string, body?: unknown) => request(s.url, method, path, body);

  it('sets, reads, replaces and deletes tags', async () => {
    expect((await call('GET', `/api/heaps/${h1}/tags`)).body).toEqual({ heap: h1, tags: {} });
    const set = await call('PUT', `/api/heaps/${h1}/tags`, { tags: { a: '1', b: '2', c: '3' } });
    expect(set).toEqual({ status: 200, body: { heap: h1, tags: { a: '1', b: '2', c: '3' } } });
    expect((await call('GET', `/api/heaps/${h1}/tags`)).body.tags).toEqual({ a: '1', b: '2', c: '3' });
    // Replace: keys not given are gone.
    await call('PUT', `/api/heaps/${h1}/tags`, { tags: { a: '9', b: '2', d: '4' } });
    expect((await call('GET', `/api/heaps/${h1}/tags`)).body.tags).toEqual({ a: '9', b: '2', d: '4' });
    expect((await call('DELETE', `/api/heaps/${h1}/tags?keys=a,d`)).body.tags).toEqual({ b: '2' });
    await call('PUT', `/api/heaps/${h1}/tags`, { tags: { a: '1', b: '2' } });
    expect((await call('DELETE', `/api/heaps/${h1}/tags`, { keys: ['b'] })).body.tags).toEqual({ a: '1' });
    expect((await call('DELETE', `/api/heaps/${h1}/tags`)).body).toEqual({ heap: h1, tags: {} });
  });

  it('queries with AND semantics and a limit', async () => {
    await call('PUT', `/api/heaps/${h1}/tags`, { tags: { project: 'x', stage: 'a' } });
    await call('PUT', `/api/heaps/${h2}/tags`, { tags: { project: 'x', stage: 'b' } });
    await call('PUT', `/api/heaps/${h3}/tags`, { tags: { project: 'y', stage: 'a' } });
    const heapsOf = async (tags: Json, limit?: number) =>
      ((await call('POST', '/api/heaps/query', { tags, limit })).body.heaps as Array<{ heap: string }>)
        .map((h) => h.heap)
        .sort();
    expect(await heapsOf({ project: 'x' })).toEqual([h1, h2].sort());
    expect(await heapsOf({ project: 'x', stage: 'a' })).toEqual([h1]);
    expect(await heapsOf({ stage: 'a' })).toEqual([h1, h3].sort());
    expect(await heapsOf({ project: 'z' })).toEqual([]);
    expect(await heapsOf({ project: 'x' }, 1)).toHaveLength(1);
    const one = await call('POST', '/api/heaps/query', { tags: { project: 'x', stage: 'b' } });
    expect(one.body).toEqual({ heaps: [{ heap: h2, tags: { project: 'x', stage: 'b' } }] });
  });

  it('answers unknown, malformed and invalid input with stable codes', async () => {
    const unknown = '0'.repeat(64);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await call(
        method,
        `/api/heaps/${unknown}/tags`,
        method === 'PUT' ? { tags: {} } : undefined,
      );
      expect([res.status, codeOf(res)]).toEqual([404, 'MCPV8_ERR_HEAP_NOT_FOUND']);
    }
    for (const bad of ['abc', 'A'.repeat(64)]) {
      const res = await call('GET', `/api/heaps/${bad}/tags`);
      expect([res.status, codeOf(res)]).toEqual([400, 'MCPV8_ERR_HEAP_ID_INVALID']);
    }
    const cases: Array<[string, string, unknown]> = [
      ['PUT', `/api/heaps/${h1}/tags`, { tags: { a: 1 } }],
      ['PUT', `/api/heaps/${h1}/tags`, { tags: { '': 'x' } }],
      ['PUT', `/api/heaps/${h1}/tags`, {}],
      ['POST', '/api/heaps/query', { tags: {} }],
      ['POST', '/api/heaps/query', { tags: { a: '1' }, limit: 0 }],
      ['GET', '/api/sessions/s/snapshots?limit=5000', undefined],
    ];
    for (const [method, path, body] of cases) {
      const res = await call(method, path, body);
      expect([res.status, codeOf(res)], `${method} ${path} ${JSON.stringify(body)}`).toEqual([
        400,
        'MCPV8_ERR_INPUT_INVALID',
      ]);
    }
  });

  it('lists sessions and their snapshots, with field selection and paging', async () => {
    for (let i = 0; i < 3; i++) {
      await s.log!.append('proj/one', {
        inputHeap: i === 0 ? null : h1,
        outputHeap: h2,
        code: `cell ${i}`,
        timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
      });
    }
    await s.log!.append('other', {
      inputHeap: null,
      outputHeap: h3,
      code: 'x',
      timestamp: '2025-01-01T00:00:00.000Z',
    });
    expect((await call('GET', '/api/sessions')).body).toEqual({ sessions: ['other', 'proj/one'] });
    expect((await call('GET', '/api/sessions?limit=1')).body).toEqual({
      sessions: ['other'],
      next_offset: 1,
    });

    const path = `/api/sessions/${encodeURIComponent('proj/one')}/snapshots`;
    const all = await call('GET', path);
    expect(all.body.session).toBe('proj/one');
    expect(all.body.entries).toEqual([
      { index: 0, input_heap: null, output_heap: h2, code: 'cell 0', timestamp: '2025-01-01T00:00:00.000Z' },
      { index: 1, input_heap: h1, output_heap: h2, code: 'cell 1', timestamp: '2025-01-01T00:00:01.000Z' },
      { index: 2, input_heap: h1, output_heap: h2, code: 'cell 2', timestamp: '2025-01-01T00:00:02.000Z' },
    ]);
    const some = await call('GET', `${path}?fields=output_heap,%20index&offset=1&limit=1`);
    expect(some.body).toEqual({
      session: 'proj/one',
      entries: [{ index: 1, output_heap: h2 }],
      next_offset: 2,
    });
    const bad = await call('GET', `${path}?fields=index,heap`);
    expect([bad.status, codeOf(bad)]).toEqual([400, 'MCPV8_ERR_INPUT_INVALID']);
    expect((bad.body.error as { message: string }).message).toContain('"heap"');
    expect((await call('GET', '/api/sessions/nobody/snapshots')).body).toEqual({
      session: 'nobody',
      entries: [],
    });
  });

  it('accepts heap, session and tags on POST /api/exec and shows them on the execution', async () => {
    const missing = await call('POST', '/api/exec', { code: '1', heap: '0'.repeat(64) });
    expect([missing.status, codeOf(missing)]).toEqual([404, 'MCPV8_ERR_HEAP_NOT_FOUND']);
    const malformed = await call('POST', '/api/exec', { code: '1', heap: 'zz' });
    expect([malformed.status, codeOf(malformed)]).toEqual([400, 'MCPV8_ERR_HEAP_ID_INVALID']);
    const badTags = await call('POST', '/api/exec', { code: '1', tags: { a: 'x'.repeat(2000) } });
    expect([badTags.status, codeOf(badTags)]).toEqual([400, 'MCPV8_ERR_INPUT_INVALID']);
    const started = await call('POST', '/api/exec', {
      code: '1',
      heap: h1,
      session: 'proj/one',
      tags: { k: 'v' },
    });
    expect(started.status).toBeLessThan(300);
    expect(started.body).toMatchObject({ input_heap: h1, session: 'proj/one' });
    // (Read back through GET once SqliteExecutionStore keeps heap/session: see the report.)
  });

  it('documents the session routes and the stateful exec arguments', async () => {
    const doc = (await call('GET', '/openapi.json')).body as { paths: Json };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/sessions',
        '/api/sessions/{session}/snapshots',
        '/api/heaps/{heap}/tags',
        '/api/heaps/query',
      ]),
    );
    const exec = doc.paths['/api/exec'] as { post: { requestBody: unknown } };
    expect(JSON.stringify(exec.post.requestBody)).toMatch(/"heap".*"session".*"tags"/);
  });
});
