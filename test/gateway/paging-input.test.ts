// Every list, page, offset, limit, cursor and wait argument of the REST API and the MCP tools,
// given hostile values against a real embedded (stateful) server: each is a clear input error
// (400, or a tool error, with MCPV8_ERR_INPUT_INVALID), never a server fault. And a byte page
// never carries more than its byte_limit, however long the line it cuts.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, ListTasksResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './session-fixtures.ts';

let s: TestServer;
let client: Client;
/** An execution whose output is one 65,000-byte line, then `é😀`. */
let longLine: string;
const LONG = 65_000;

beforeAll(async () => {
  s = await startTestServer('stateful');
  client = new Client({ name: 'paging-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`)));
  const res = await fetch(`${s.url}/api/exec?wait=60`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: `console.log('x'.repeat(${LONG})); console.log('é😀'); 1`,
  });
  const view = (await res.json()) as { execution_id: string; status: string };
  expect(view.status).toBe('completed');
  longLine = view.execution_id;
});
afterAll(async () => {
  await client?.close();
  await s?.close();
});

/** What the routes here answer: an error, an execution list or an output page. */
interface Body {
  error: { code: string; message: string };
  executions: Array<{ execution_id: string }>;
  data: string;
  lines: Array<{ index: number; level: string; text: string }>;
  next_byte_offset: number;
  has_more: boolean;
}

async function rest(path: string, init?: RequestInit): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${s.url}${path}`, init);
  return { status: res.status, body: (await res.json()) as Body };
}

/** Asserts `path` is refused as the caller's mistake. */
async function expectInputError(path: string, init?: RequestInit): Promise<void> {
  const { status, body } = await rest(path, init);
  expect({ path, status, code: body.error?.code }).toEqual({
    path,
    status: 400,
    code: 'MCPV8_ERR_INPUT_INVALID',
  });
  expect(body.error.message.length).toBeLessThan(300);
}

/** The error code of an MCP tool call that must fail. */
async function toolErrorCode(name: string, args: Record<string, unknown>): Promise<string> {
  const res = await client.callTool({ name, arguments: args });
  expect(res.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
  const [first] = res.content as Array<{ text: string }>;
  return (JSON.parse(first!.text) as { error: { code: string } }).error.code;
}

const junk = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const BAD_CURSORS = [
  'garbage',
  'zzz',
  '!!!',
  junk({ a: 1 }),
  junk(['not a time', 'id']),
  junk([12, 'id']),
  junk(['2026-01-01T00:00:00.000Z', '']),
  junk(['2026-01-01T00:00:00.000Z', 'id', 'more']),
  `${junk(['2026-01-01T00:00:00.000Z', 'id'])}!`,
  'x'.repeat(5000),
];
const BAD_LIMIT_TEXT = ['0', '-1', '1.5', 'abc', '1e12', '9007199254740993', 'NaN', '', '1001', ' 5'];
const BAD_LIMIT_JSON: unknown[] = [0, -1, 0.5, 1e12, 2 ** 53 + 2, 1001, '5', null, true, [5]];

describe('REST', () => {
  it('GET /api/executions refuses bad cursors, limits and statuses', async () => {
    for (const cursor of BAD_CURSORS) {
      await expectInputError(`/api/executions?cursor=${encodeURIComponent(cursor)}`);
    }
    for (const limit of BAD_LIMIT_TEXT) await expectInputError(`/api/executions?limit=${limit}`);
    await expectInputError('/api/executions?cursor=a&cursor=b');
    await expectInputError('/api/executions?limit=1&limit=2');
    await expectInputError('/api/executions?status=bogus');
    // The cursor a page gives still works, and an empty one is the first page.
    const first = await rest('/api/executions?limit=1&cursor=');
    expect(first.status).toBe(200);
  });

  it('output paging refuses bad offsets, limits and mixed modes', async () => {
    const base = `/api/executions/${longLine}/output`;
    for (const v of ['-1', '1.5', 'abc', '1e12', '9007199254740993', '']) {
      for (const arg of ['line_offset', 'line_limit', 'byte_offset', 'byte_limit']) {
        await expectInputError(`${base}?${arg}=${v}`);
      }
    }
    await expectInputError(`${base}?byte_limit=0`);
    await expectInputError(`${base}?byte_limit=1048577`);
    await expectInputError(`${base}?line_limit=10001`);
    await expectInputError(`${base}?line_offset=0&byte_offset=0`);
  });

  it('a byte page never carries more than byte_limit, cutting a long line and continuing it', async () => {
    const base = `/api/executions/${longLine}/output`;
    const { status, body } = await rest(`${base}?byte_offset=0&byte_limit=100`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ data: 'x'.repeat(100), byte_offset: 0, next_byte_offset: 100 });
    expect(body.lines).toEqual([{ index: 0, level: 'log', text: 'x'.repeat(100) }]);
    expect(JSON.stringify(body).length).toBeLessThan(1000);
    // Paging on reproduces the whole log, each page within its limit.
    let offset = 0;
    let text = '';
    for (;;) {
      const page = (await rest(`${base}?byte_offset=${offset}&byte_limit=8192`)).body;
      expect(Buffer.byteLength(page.data)).toBeLessThanOrEqual(8192);
      for (const line of page.lines) expect(Buffer.byteLength(line.text)).toBeLessThanOrEqual(8192);
      text += page.data;
      offset = page.next_byte_offset;
      if (!page.has_more) break;
    }
    expect(text).toBe(`${'x'.repeat(LONG)}\né😀\n`);
  });

  it('session and heap-tag routes refuse bad pages', async () => {
    for (const v of BAD_LIMIT_TEXT) {
      await expectInputError(`/api/sessions?limit=${v}`);
      await expectInputError(`/api/sessions/s1/snapshots?limit=${v}`);
    }
    for (const v of ['-1', '1.5', 'abc', '1e12', '9007199254740993']) {
      await expectInputError(`/api/sessions?offset=${v}`);
      await expectInputError(`/api/sessions/s1/snapshots?offset=${v}`);
    }
    for (const limit of BAD_LIMIT_JSON) {
      await expectInputError('/api/heaps/query', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tags: { a: 'b' }, limit }),
      });
    }
  });

  it('POST /api/exec refuses a bad wait before running anything', async () => {
    const before = (await rest('/api/executions?limit=1000')).body.executions.length;
    for (const wait of ['-1', '301', 'abc', '1e3', '1.5']) {
      await expectInputError(`/api/exec?wait=${wait}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: '1',
      });
    }
    expect((await rest('/api/executions?limit=1000')).body.executions.length).toBe(before);
  });
});

describe('MCP tools', () => {
  it('list_executions refuses bad cursors, limits and statuses', async () => {
    for (const cursor of BAD_CURSORS) {
      expect(await toolErrorCode('list_executions', { cursor })).toBe('MCPV8_ERR_INPUT_INVALID');
    }
    for (const limit of BAD_LIMIT_JSON) {
      expect(await toolErrorCode('list_executions', { limit })).toBe('MCPV8_ERR_INPUT_INVALID');
    }
    expect(await toolErrorCode('list_executions', { status: 'bogus' })).toBe('MCPV8_ERR_INPUT_INVALID');
    expect(await toolErrorCode('list_executions', { cursor: 42 })).toBe('MCPV8_ERR_INPUT_INVALID');
  });

  it('the paging tools refuse bad offsets and limits', async () => {
    const bad = [-1, 0.5, 1e300, 2 ** 53 + 2, '3', null];
    for (const v of bad) {
      for (const arg of ['line_offset', 'line_limit', 'byte_offset', 'byte_limit']) {
        const args = { execution_id: longLine, [arg]: v };
        expect(await toolErrorCode('get_execution_output', args)).toBe('MCPV8_ERR_INPUT_INVALID');
      }
      for (const arg of ['offset', 'limit']) {
        expect(await toolErrorCode('list_sessions', { [arg]: v })).toBe('MCPV8_ERR_INPUT_INVALID');
        expect(await toolErrorCode('list_session_snapshots', { session: 's1', [arg]: v })).toBe(
          'MCPV8_ERR_INPUT_INVALID',
        );
      }
      expect(await toolErrorCode('query_heaps_by_tags', { tags: { a: 'b' }, limit: v })).toBe(
        'MCPV8_ERR_INPUT_INVALID',
      );
      expect(await toolErrorCode('get_execution', { execution_id: longLine, wait_seconds: v })).toBe(
        'MCPV8_ERR_INPUT_INVALID',
      );
    }
    for (const limit of [0, 1001, 1e12]) {
      expect(await toolErrorCode('list_sessions', { limit })).toBe('MCPV8_ERR_INPUT_INVALID');
      expect(await toolErrorCode('query_heaps_by_tags', { tags: { a: 'b' }, limit })).toBe(
        'MCPV8_ERR_INPUT_INVALID',
      );
    }
    expect(await toolErrorCode('get_execution', { execution_id: longLine, wait_seconds: 51 })).toBe(
      'MCPV8_ERR_INPUT_INVALID',
    );
  });

  it('get_execution_output cuts a long line at byte_limit', async () => {
    const res = await client.callTool({
      name: 'get_execution_output',
      arguments: { execution_id: longLine, byte_offset: 0, byte_limit: 100 },
    });
    const page = res.structuredContent as { data: string; lines: Array<{ text: string }> };
    expect(page.data).toBe('x'.repeat(100));
    expect(page.lines.map((l) => l.text)).toEqual(['x'.repeat(100)]);
  });

  it('tasks/list with a cursor the server did not issue is invalid params', async () => {
    const err = await client
      .request({ method: 'tasks/list', params: { cursor: 'zzz' } }, ListTasksResultSchema)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.InvalidParams);
  });
});
