// The session and heap-tag MCP tools over Streamable HTTP, against a real embedded server in each
// mode: a stateless server offers none of them (and run_js takes no heap); a stateful one offers
// them all with stable error codes.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLS } from '../../src/gateway/mcp/mcp-server.ts';
import { putHeap, startTestServer, type TestServer } from './session-fixtures.ts';

const SESSION_TOOLS = [
  'list_sessions',
  'list_session_snapshots',
  'get_heap_tags',
  'set_heap_tags',
  'delete_heap_tags',
  'query_heaps_by_tags',
];

type Structured = Record<string, unknown>;

async function connect(s: TestServer): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`)));
  return client;
}

async function call(client: Client, name: string, args: Structured): Promise<Structured> {
  const res = await client.callTool({ name, arguments: args });
  if (res.isError) throw new Error(`tool ${name} failed: ${JSON.stringify(res.content)}`);
  return res.structuredContent as Structured;
}

/** The error code of a call that must fail. */
async function errorCode(client: Client, name: string, args: Structured): Promise<string> {
  const res = await client.callTool({ name, arguments: args });
  expect(res.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
  const [first] = res.content as Array<{ text: string }>;
  return (JSON.parse(first!.text) as { error: { code: string } }).error.code;
}

describe('MCP on a stateless server', () => {
  let s: TestServer;
  let client: Client;
  beforeAll(async () => {
    s = await startTestServer('stateless');
    client = await connect(s);
  });
  afterAll(async () => {
    await client?.close();
    await s?.close();
  });

  it('lists no session tools, and run_js takes no heap, session or tags', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'run_js',
      'get_execution',
      'get_execution_output',
      'cancel_execution',
      'list_executions',
    ]);
    const runJs = tools.find((t) => t.name === 'run_js')!;
    expect(Object.keys(runJs.inputSchema.properties ?? {})).not.toEqual(expect.arrayContaining(['heap']));
    for (const arg of ['heap', 'session', 'tags'])
      expect(runJs.inputSchema.properties).not.toHaveProperty(arg);
    expect(runJs.description).not.toContain('heap id');
  });

  it('answers a call to a session tool as an unknown tool', async () => {
    expect(await errorCode(client, 'list_sessions', {})).toBe('MCPV8_ERR_INPUT_INVALID');
  });
});

describe('MCP on a stateful server', () => {
  let s: TestServer;
  let client: Client;
  let h1: string;
  let h2: string;
  beforeAll(async () => {
    s = await startTestServer('stateful');
    client = await connect(s);
    [h1, h2] = await Promise.all([putHeap(s.heaps!, 'one'), putHeap(s.heaps!, 'two')]);
  });
  afterAll(async () => {
    await client?.close();
    await s?.close();
  });

  it('lists every tool, with run_js taking heap, session and tags, and correct annotations', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(SESSION_TOOLS));
    const byName = new Map(tools.map((t) => [t.name, t]));
    const runJs = byName.get('run_js')!;
    for (const arg of ['heap', 'session', 'tags']) expect(runJs.inputSchema.properties).toHaveProperty(arg);
    expect(runJs.description).toContain('heap');
    for (const name of ['list_sessions', 'list_session_snapshots', 'get_heap_tags', 'query_heaps_by_tags']) {
      expect(byName.get(name)!.annotations, name).toMatchObject({ readOnlyHint: true });
    }
    for (const name of ['set_heap_tags', 'delete_heap_tags']) {
      expect(byName.get(name)!.annotations, name).toMatchObject({
        readOnlyHint: false,
        destructiveHint: true,
      });
    }
    for (const t of tools) expect(t.outputSchema?.type, t.name).toBe('object');
  });

  it('sets, gets, replaces and deletes tags, and queries them with AND semantics', async () => {
    expect(await call(client, 'get_heap_tags', { heap: h1 })).toEqual({ heap: h1, tags: {} });
    await call(client, 'set_heap_tags', { heap: h1, tags: { project: 'x', stage: 'a', extra: '1' } });
    await call(client, 'set_heap_tags', { heap: h1, tags: { project: 'x', stage: 'a' } });
    expect((await call(client, 'get_heap_tags', { heap: h1 })).tags).toEqual({ project: 'x', stage: 'a' });
    await call(client, 'set_heap_tags', { heap: h2, tags: { project: 'x', stage: 'b', keep: 'k' } });

    const heapsOf = async (tags: Structured) =>
      ((await call(client, 'query_heaps_by_tags', { tags })).heaps as Array<{ heap: string }>)
        .map((h) => h.heap)
        .sort();
    expect(await heapsOf({ project: 'x' })).toEqual([h1, h2].sort());
    expect(await heapsOf({ project: 'x', stage: 'b' })).toEqual([h2]);
    expect(await heapsOf({ project: 'x', stage: 'c' })).toEqual([]);
    expect(
      (await call(client, 'query_heaps_by_tags', { tags: { project: 'x' }, limit: 1 })).heaps,
    ).toHaveLength(1);

    expect(await call(client, 'delete_heap_tags', { heap: h2, keys: ['stage', 'absent'] })).toEqual({
      heap: h2,
      tags: { project: 'x', keep: 'k' },
    });
    expect(await call(client, 'delete_heap_tags', { heap: h2 })).toEqual({ heap: h2, tags: {} });
    expect(await heapsOf({ project: 'x' })).toEqual([h1]);
  });

  it('answers bad heaps, tags and fields with stable codes', async () => {
    const unknown = 'f'.repeat(64);
    expect(await errorCode(client, 'get_heap_tags', { heap: unknown })).toBe('MCPV8_ERR_HEAP_NOT_FOUND');
    expect(await errorCode(client, 'set_heap_tags', { heap: unknown, tags: {} })).toBe(
      'MCPV8_ERR_HEAP_NOT_FOUND',
    );
    expect(await errorCode(client, 'delete_heap_tags', { heap: unknown })).toBe('MCPV8_ERR_HEAP_NOT_FOUND');
    expect(await errorCode(client, 'get_heap_tags', { heap: 'not-a-heap' })).toBe(
      'MCPV8_ERR_HEAP_ID_INVALID',
    );
    expect(await errorCode(client, 'set_heap_tags', { heap: h1.toUpperCase(), tags: {} })).toBe(
      'MCPV8_ERR_HEAP_ID_INVALID',
    );
    expect(await errorCode(client, 'set_heap_tags', { heap: h1, tags: { ['k'.repeat(200)]: 'v' } })).toBe(
      'MCPV8_ERR_INPUT_INVALID',
    );
    expect(await errorCode(client, 'query_heaps_by_tags', { tags: {} })).toBe('MCPV8_ERR_INPUT_INVALID');
    expect(await errorCode(client, 'list_session_snapshots', { session: 's', fields: 'index,bogus' })).toBe(
      'MCPV8_ERR_INPUT_INVALID',
    );
    expect(await errorCode(client, 'list_session_snapshots', { session: '' })).toBe(
      'MCPV8_ERR_INPUT_INVALID',
    );
    expect(await errorCode(client, 'run_js', { code: '1', heap: unknown })).toBe('MCPV8_ERR_HEAP_NOT_FOUND');
    expect(await errorCode(client, 'run_js', { code: '1', heap: 'abc' })).toBe('MCPV8_ERR_HEAP_ID_INVALID');
  });

  it('lists sessions and snapshots with field selection (string or array) and paging', async () => {
    for (const [i, code] of ['var a = 1', 'a + 1'].entries()) {
      await s.log!.append('work', {
        inputHeap: i === 0 ? null : h1,
        outputHeap: i === 0 ? h1 : h2,
        code,
        timestamp: `2025-02-0${i + 1}T00:00:00.000Z`,
      });
    }
    expect(await call(client, 'list_sessions', {})).toEqual({ sessions: ['work'] });
    const all = await call(client, 'list_session_snapshots', { session: 'work' });
    expect(all).toEqual({
      session: 'work',
      entries: [
        {
          index: 0,
          input_heap: null,
          output_heap: h1,
          code: 'var a = 1',
          timestamp: '2025-02-01T00:00:00.000Z',
        },
        { index: 1, input_heap: h1, output_heap: h2, code: 'a + 1', timestamp: '2025-02-02T00:00:00.000Z' },
      ],
    });
    expect(
      await call(client, 'list_session_snapshots', { session: 'work', fields: 'output_heap, code' }),
    ).toEqual({
      session: 'work',
      entries: [
        { output_heap: h1, code: 'var a = 1' },
        { output_heap: h2, code: 'a + 1' },
      ],
    });
    expect(
      await call(client, 'list_session_snapshots', { session: 'work', fields: ['input_heap'], limit: 1 }),
    ).toEqual({ session: 'work', entries: [{ input_heap: null }], next_offset: 1 });
  });

  it('resumes from an existing heap with run_js, and shows the input heap and session', async () => {
    const started = await call(client, 'run_js', { code: '1', heap: h1, session: 'work', tags: { t: 'v' } });
    expect(started).toMatchObject({ input_heap: h1, session: 'work' });
  });
});
