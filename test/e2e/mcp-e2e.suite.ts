/**
 * The MCP end-to-end suite: the seed's behaviours checked through MCP tools only, against any
 * running gateway (a kind cluster, the integration harness's cluster deployment, an embedded
 * server). It needs nothing but the gateway's base URL and, where the gateway asks for one, a
 * bearer token; session and heap-tag checks run only when the server is stateful.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Where the suite runs: the gateway base URL (MCP at `<url>/mcp`) and an optional bearer token. */
export interface McpEndToEndTarget {
  url: string;
  token?: string;
}

type Structured = Record<string, unknown>;

/** Tools every server lists. */
const BASE_TOOLS = ['run_js', 'get_execution', 'get_execution_output', 'cancel_execution', 'list_executions'];
/** Tools a stateful server lists as well. */
const STATEFUL_TOOLS = [
  'list_sessions',
  'list_session_snapshots',
  'get_heap_tags',
  'set_heap_tags',
  'delete_heap_tags',
  'query_heaps_by_tags',
];
const FINISHED = ['completed', 'failed', 'cancelled', 'timed_out'];
/** Bound of every wait for an execution: a cold kind cluster may still be starting runner pods. */
const WAIT_MS = 90_000;

/**
 * Registers the suite (vitest `describe`/`it`). `target` is read in `beforeAll`, so it may
 * name a deployment another `beforeAll` starts.
 */
export function describeMcpEndToEnd(target: () => McpEndToEndTarget): void {
  describe('MCP end to end', () => {
    let client: Client | undefined;
    let tools: string[] = [];
    let stateful = false;
    /** Every execution the suite started, to find them in list_executions. */
    const started: string[] = [];

    beforeAll(async () => {
      const { url, token } = target();
      const endpoint = new URL('mcp', url.endsWith('/') ? url : `${url}/`);
      client = new Client({ name: 'mcp-v8-e2e', version: '1.0.0' });
      try {
        await client.connect(
          new StreamableHTTPClientTransport(endpoint, {
            requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
          }),
        );
        tools = (await client.listTools()).tools.map((t) => t.name);
      } catch (err) {
        const cause = (err as Error).cause as Error | undefined;
        throw new Error(
          `cannot open an MCP session at ${endpoint.href} (${token ? 'with' : 'without'} a bearer token): ` +
            `${(err as Error).message}${cause ? ` (${cause.message})` : ''}`,
          { cause: err },
        );
      }
      stateful = tools.includes('list_sessions');
    }, 60_000);

    afterAll(async () => {
      await client?.close();
    });

    /** Calls a tool that must succeed; returns its structured content. */
    async function call(name: string, args: Structured): Promise<Structured> {
      const res = await client!.callTool({ name, arguments: args });
      expect(res.isError, `${name} failed: ${JSON.stringify(res.content)}`).toBeFalsy();
      expect(res.structuredContent, `${name} returned no structured content`).toBeDefined();
      return res.structuredContent as Structured;
    }

    async function runJs(args: Structured): Promise<string> {
      const view = await call('run_js', args);
      const id = view.execution_id;
      expect(typeof id, `run_js answered without an execution_id: ${JSON.stringify(view)}`).toBe('string');
      started.push(id as string);
      return id as string;
    }

    /** Polls get_execution until the status is one of `statuses`; bounded by `timeoutMs`. */
    async function waitStatus(id: string, statuses: string[], timeoutMs = WAIT_MS): Promise<Structured> {
      const deadline = Date.now() + timeoutMs;
      let last: Structured | undefined;
      for (;;) {
        last = await call('get_execution', { execution_id: id });
        if (statuses.includes(last.status as string)) return last;
        if (FINISHED.includes(last.status as string) || Date.now() > deadline) {
          throw new Error(
            `execution ${id} did not reach ${statuses.join('|')} within ${timeoutMs / 1000}s; ` +
              `last view ${JSON.stringify(last)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    /** Runs a cell to its end and returns the final view. */
    async function runToEnd(args: Structured): Promise<Structured> {
      return waitStatus(await runJs(args), FINISHED);
    }

    it('lists the embedded tool set', () => {
      expect(tools).toEqual(expect.arrayContaining(BASE_TOOLS));
      if (stateful) expect(tools).toEqual(expect.arrayContaining(STATEFUL_TOOLS));
    });

    it.each([
      ['1 + 1', '2'],
      ['Math.sqrt(144)', '12'],
    ])('runs %s to %s', async (code, result) => {
      const done = await runToEnd({ code });
      expect(done, JSON.stringify(done)).toMatchObject({ status: 'completed', result });
    });

    it('reads console output in line mode and in byte mode', async () => {
      const done = await runToEnd({ code: 'console.log("hello from e2e"); console.log("second line"); 7' });
      expect(done, JSON.stringify(done)).toMatchObject({ status: 'completed', result: '7' });
      const id = done.execution_id as string;
      const lines = await call('get_execution_output', { execution_id: id, line_offset: 0, line_limit: 1 });
      expect(lines).toMatchObject({
        status: 'completed',
        data: 'hello from e2e\n',
        line_offset: 0,
        next_line_offset: 1,
        total_lines: 2,
        has_more: true,
      });
      expect((lines.lines as Array<{ text: string }>).map((l) => l.text)).toEqual(['hello from e2e']);
      const bytes = await call('get_execution_output', { execution_id: id, byte_offset: 6, byte_limit: 4 });
      expect(bytes).toMatchObject({ data: 'from', byte_offset: 6, next_byte_offset: 10 });
      const all = await call('get_execution_output', { execution_id: id });
      expect(all.data).toBe('hello from e2e\nsecond line\n');
    });

    it('runs a TypeScript cell', async () => {
      const done = await runToEnd({
        code: 'interface Box { n: number }\nconst box: Box = { n: 40 };\n(box.n as number) + 2',
        language: 'typescript',
      });
      expect(done, JSON.stringify(done)).toMatchObject({
        status: 'completed',
        result: '42',
        language: 'typescript',
      });
    });

    it('fails a syntax error as SyntaxError', async () => {
      const done = await runToEnd({ code: 'let = ;' });
      expect(done.status, JSON.stringify(done)).toBe('failed');
      expect(done.error, JSON.stringify(done)).toMatchObject({ reason: 'SyntaxError', name: 'SyntaxError' });
    });

    it('times out an endless loop at execution_timeout_secs', async () => {
      const done = await runToEnd({ code: 'while (true) {}', execution_timeout_secs: 1 });
      expect(done.status, JSON.stringify(done)).toBe('timed_out');
    });

    it('cancels a long cell', async () => {
      const id = await runJs({ code: 'while (true) {}', execution_timeout_secs: 120 });
      await waitStatus(id, ['running']);
      const cancelled = await call('cancel_execution', { execution_id: id });
      expect(['running', 'cancelled']).toContain(cancelled.status);
      const done = await waitStatus(id, FINISHED, 30_000);
      expect(done.status, JSON.stringify(done)).toBe('cancelled');
    });

    it('keeps state across a session of cells and logs each one', async (ctx) => {
      ctx.skip(!stateful, 'the server is stateless (no list_sessions tool)');
      const session = `e2e-${randomBytes(4).toString('hex')}`;
      let heap: string | undefined;
      let last: Structured | undefined;
      for (const code of ['var x = 1', 'x += 1', 'x * 10']) {
        last = await runToEnd({ code, session, ...(heap && { heap }) });
        expect(last.status, `${code}: ${JSON.stringify(last)}`).toBe('completed');
        expect(last.heap, `${code} committed no heap: ${JSON.stringify(last)}`).toMatch(/^[0-9a-f]{64}$/);
        heap = last.heap as string;
      }
      expect(last!.result).toBe('20');
      const snapshots = await call('list_session_snapshots', { session });
      const entries = snapshots.entries as Array<Structured>;
      expect(entries.map((e) => e.code)).toEqual(['var x = 1', 'x += 1', 'x * 10']);
      expect(entries.map((e) => e.index)).toEqual([0, 1, 2]);
      expect(entries[0]!.input_heap).toBeNull();
      expect(entries[2]!.output_heap).toBe(heap);
      expect((await call('list_sessions', {})).sessions).toContain(session);
    });

    it('sets, queries and deletes heap tags', async (ctx) => {
      ctx.skip(!stateful, 'the server is stateless (no heap tag tools)');
      const run = randomBytes(4).toString('hex');
      const done = await runToEnd({ code: 'var tagged = true; 1', tags: { suite: 'e2e', run } });
      expect(done.status, JSON.stringify(done)).toBe('completed');
      const heap = done.heap as string;
      expect(heap, JSON.stringify(done)).toMatch(/^[0-9a-f]{64}$/);
      expect(await call('get_heap_tags', { heap })).toEqual({ heap, tags: { suite: 'e2e', run } });
      expect(await call('set_heap_tags', { heap, tags: { run, stage: 'set' } })).toEqual({
        heap,
        tags: { run, stage: 'set' },
      });
      const found = await call('query_heaps_by_tags', { tags: { run, stage: 'set' } });
      expect(found.heaps).toEqual([{ heap, tags: { run, stage: 'set' } }]);
      expect(await call('delete_heap_tags', { heap, keys: ['stage'] })).toEqual({ heap, tags: { run } });
      expect((await call('query_heaps_by_tags', { tags: { run, stage: 'set' } })).heaps).toEqual([]);
    });

    it('lists the executions it started', async () => {
      expect(started.length, 'no execution was started before this test').toBeGreaterThan(0);
      const seen = new Set<string>();
      let cursor: string | undefined;
      // Newest first; page until every id is seen, bounded so a broken cursor cannot loop forever.
      for (let page = 0; page < 20 && started.some((id) => !seen.has(id)); page++) {
        const res = await call('list_executions', { limit: 100, ...(cursor && { cursor }) });
        for (const e of res.executions as Array<{ execution_id: string }>) seen.add(e.execution_id);
        cursor = res.next_cursor as string | undefined;
        if (!cursor) break;
      }
      expect(
        started.filter((id) => !seen.has(id)),
        'ids missing from list_executions',
      ).toEqual([]);
    });
  });
}
