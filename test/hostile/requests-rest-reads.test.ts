// Hostile REST reads: list and page arguments (negative, huge, NaN, garbage), cursors, unknown
// ids, path traversal, byte pages of a 65 KB line (never more than byte_limit), sessions and heap
// tags, bad tokens and unknown routes, and floods of bad requests. Each is refused with a 4xx and
// a stable MCPV8_ERR_* code, or answered within its bounds. See harness/hostile-server.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { checkServerAndVictim, watchCase } from './harness/case-watch.ts';
import type { HttpAnswer } from './harness/hostile-server.ts';
import { runRequestCase, type Fixtures, type RequestCase } from './harness/request-cases.ts';
import { describeEnd, execAndWait, type OutputPageView } from './harness/rest-calls.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();
let fixtures: Fixtures;

beforeAll(async () => {
  const v = await execAndWait(file.server, { code: 'console.log("y".repeat(65000)); 1' }, { waitSecs: 60 });
  if (v.status !== 'completed' || !v.heap) throw new Error(`fixture: ${describeEnd(v)}`);
  fixtures = { longLine: v.execution_id, heap: v.heap };
}, 120_000);

const INPUT = ['MCPV8_ERR_INPUT_INVALID'];
const json = { 'content-type': 'application/json' };

/** A byte page: its data and its lines within `limit` bytes, the whole answer small. */
const bytePage = (limit: number) => (res: HttpAnswer) => {
  const page = res.json as OutputPageView;
  expect(Buffer.byteLength(page.data), 'page data bytes').toBeLessThanOrEqual(limit);
  const lineBytes = page.lines.reduce((n, l) => n + Buffer.byteLength(l.text), 0);
  expect(lineBytes, 'page lines bytes').toBeLessThanOrEqual(limit);
  expect(res.text.length, 'answer size').toBeLessThan(4096 + 2 * limit);
};

const READS: RequestCase[] = [
  {
    name: 'cursor=garbage',
    method: 'GET',
    path: '/api/executions?cursor=garbage',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'a 4,000-char cursor',
    method: 'GET',
    path: `/api/executions?cursor=${'A'.repeat(4000)}`,
    status: [400],
    codes: INPUT,
  },
  {
    name: 'a cursor of base64 JSON with wrong fields',
    method: 'GET',
    path: `/api/executions?cursor=${Buffer.from('{"createdAt":5,"id":{}}').toString('base64url')}`,
    status: [400],
    codes: INPUT,
  },
  {
    name: 'a cursor with a NUL',
    method: 'GET',
    path: '/api/executions?cursor=%00',
    status: [400],
    codes: INPUT,
  },
  { name: 'limit=0', method: 'GET', path: '/api/executions?limit=0', status: [400], codes: INPUT },
  { name: 'limit=-1', method: 'GET', path: '/api/executions?limit=-1', status: [400], codes: INPUT },
  { name: 'limit=1e12', method: 'GET', path: '/api/executions?limit=1e12', status: [400], codes: INPUT },
  { name: 'limit=abc', method: 'GET', path: '/api/executions?limit=abc', status: [400], codes: INPUT },
  { name: 'limit=1.5', method: 'GET', path: '/api/executions?limit=1.5', status: [400], codes: INPUT },
  {
    name: 'limit given twice',
    method: 'GET',
    path: '/api/executions?limit=1&limit=2',
    status: [400],
    codes: INPUT,
  },
  { name: 'status=bogus', method: 'GET', path: '/api/executions?status=bogus', status: [400], codes: INPUT },
  {
    name: 'an unknown execution id',
    method: 'GET',
    path: '/api/executions/00000000-0000-0000-0000-000000000000',
    status: [404],
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND'],
  },
  {
    name: 'an encoded path traversal id',
    method: 'GET',
    path: '/api/executions/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    status: [400, 404],
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND', ...INPUT],
  },
  {
    name: 'a raw path traversal',
    method: 'GET',
    path: '/api/executions/../../../etc/passwd',
    status: [404],
    codes: ['MCPV8_ERR_ROUTE_NOT_FOUND', 'MCPV8_ERR_EXEC_NOT_FOUND'],
  },
  {
    name: 'an 8,000-char id',
    method: 'GET',
    path: `/api/executions/${'i'.repeat(8000)}`,
    status: [400, 404, 414],
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND', ...INPUT],
  },
  {
    name: 'an id with a NUL',
    method: 'GET',
    path: '/api/executions/abc%00def',
    status: [400, 404],
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND', ...INPUT],
  },
  {
    name: 'byte_limit=100 of a 65 KB line',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_limit=100',
    status: [200],
    check: bytePage(100),
  },
  {
    name: 'byte_limit=100 from the middle of a 65 KB line',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_offset=30000&byte_limit=100',
    status: [200],
    check: bytePage(100),
  },
  {
    name: 'byte_limit=1 of a 65 KB line',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_limit=1',
    status: [200],
    check: bytePage(1),
  },
  {
    name: 'byte_limit=0',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_limit=0',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'byte_limit=-1',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_limit=-1',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'byte_limit=1e12',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_limit=1e12',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'byte_limit=abc',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_limit=abc',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'byte_offset=-1',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_offset=-1',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'byte_offset past the end',
    method: 'GET',
    path: '/api/executions/{line}/output?byte_offset=999999999',
    status: [200],
    check: bytePage(65536),
  },
  {
    name: 'line_limit=1e12',
    method: 'GET',
    path: '/api/executions/{line}/output?line_limit=1e12',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'line_offset=abc',
    method: 'GET',
    path: '/api/executions/{line}/output?line_offset=abc',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'line and byte modes together',
    method: 'GET',
    path: '/api/executions/{line}/output?line_limit=1&byte_limit=1',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'output of an unknown id',
    method: 'GET',
    path: '/api/executions/nope/output',
    status: [404],
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND'],
  },
  {
    name: 'cancel an unknown id',
    method: 'POST',
    path: '/api/executions/nope/cancel',
    status: [404],
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND'],
  },
  {
    name: 'cancel a finished execution',
    method: 'POST',
    path: '/api/executions/{line}/cancel',
    status: [409],
    codes: ['MCPV8_ERR_EXEC_FINISHED'],
  },
  { name: 'sessions limit=abc', method: 'GET', path: '/api/sessions?limit=abc', status: [400], codes: INPUT },
  { name: 'sessions offset=-1', method: 'GET', path: '/api/sessions?offset=-1', status: [400], codes: INPUT },
  {
    name: 'sessions limit=1e12',
    method: 'GET',
    path: '/api/sessions?limit=1e12',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'snapshots of a 2,000-char session',
    method: 'GET',
    path: `/api/sessions/${'s'.repeat(2000)}/snapshots`,
    status: [400, 414],
    codes: INPUT,
  },
  {
    name: 'snapshots with fields=bogus',
    method: 'GET',
    path: '/api/sessions/victim/snapshots?fields=bogus',
    status: [400],
    codes: INPUT,
  },
  {
    name: 'tags of a heap that is not an id',
    method: 'GET',
    path: '/api/heaps/zzz/tags',
    status: [400],
    codes: ['MCPV8_ERR_HEAP_ID_INVALID'],
  },
  {
    name: 'tags of an unknown heap',
    method: 'GET',
    path: `/api/heaps/${'f'.repeat(64)}/tags`,
    status: [404],
    codes: ['MCPV8_ERR_HEAP_NOT_FOUND'],
  },
  {
    name: 'tags set to a number',
    method: 'PUT',
    path: '/api/heaps/{heap}/tags',
    body: { tags: 5 },
    status: [400],
    codes: INPUT,
  },
  {
    name: 'tags set with garbage JSON',
    method: 'PUT',
    path: '/api/heaps/{heap}/tags',
    body: '{"tags":{',
    headers: json,
    status: [400],
    codes: INPUT,
  },
  {
    name: 'heap query without tags',
    method: 'POST',
    path: '/api/heaps/query',
    body: {},
    status: [400],
    codes: INPUT,
  },
  {
    name: 'heap query with limit=1e12',
    method: 'POST',
    path: '/api/heaps/query',
    body: { tags: { a: 'b' }, limit: 1e12 },
    status: [400],
    codes: INPUT,
  },
];

const AUTH_AND_ROUTES: RequestCase[] = [
  {
    name: 'no bearer token',
    method: 'GET',
    path: '/api/executions',
    auth: 'none',
    status: [401],
    codes: ['MCPV8_ERR_AUTH_REQUIRED'],
  },
  {
    name: 'a wrong bearer token',
    method: 'GET',
    path: '/api/executions',
    auth: 'wrong',
    status: [401],
    codes: ['MCPV8_ERR_AUTH_REQUIRED'],
  },
  {
    name: 'Basic auth',
    method: 'GET',
    path: '/api/executions',
    auth: 'none',
    headers: { authorization: 'Basic YTpi' },
    status: [401],
    codes: ['MCPV8_ERR_AUTH_REQUIRED'],
  },
  {
    name: 'an unknown route',
    method: 'GET',
    path: '/api/nope',
    status: [404],
    codes: ['MCPV8_ERR_ROUTE_NOT_FOUND'],
  },
  {
    name: 'a method the route does not take',
    method: 'DELETE',
    path: '/api/exec',
    status: [404, 405],
    codes: ['MCPV8_ERR_ROUTE_NOT_FOUND'],
  },
  {
    name: 'PATCH an execution',
    method: 'PATCH',
    path: '/api/executions/{line}',
    body: { status: 'completed' },
    status: [404, 405],
    codes: ['MCPV8_ERR_ROUTE_NOT_FOUND'],
  },
];

describe('reads, pages and cursors', () => {
  for (const c of READS) it(c.name, () => runRequestCase(file.server, file.victim, fixtures, c), 120_000);
});
describe('auth and routes', () => {
  for (const c of AUTH_AND_ROUTES)
    it(c.name, () => runRequestCase(file.server, file.victim, fixtures, c), 120_000);
});

describe('floods', () => {
  it('500 bad requests at once are each refused with a 4xx', { timeout: 120_000 }, async () => {
    const watch = watchCase(file.server);
    const paths = [
      '/api/executions?cursor=zz',
      '/api/executions?limit=-5',
      '/api/executions/x/output?byte_limit=0',
    ];
    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) => file.server.request('GET', paths[i % paths.length]!)),
    );
    const statuses = [...new Set(answers.map((a) => a.status))];
    expect(
      statuses.every((s) => s >= 400 && s < 500),
      `statuses ${statuses.join(',')}`,
    ).toBe(true);
    await checkServerAndVictim(file.server, file.victim, watch, 'bad request flood');
  });

  it(
    'a client that asks to wait 300 s and hangs up at once leaves the server healthy',
    { timeout: 120_000 },
    async () => {
      const watch = watchCase(file.server);
      await expect(
        file.server.request('POST', '/api/exec?wait=300', { body: { code: 'for (;;);' }, timeoutMs: 200 }),
      ).rejects.toThrow();
      await checkServerAndVictim(file.server, file.victim, watch, 'hung-up wait');
    },
  );
});

describe('the whole file', () => file.closingChecks());
