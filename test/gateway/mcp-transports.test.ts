// An MCP client (the SDK's Client) against the embedded server over each transport: stdio (the
// real `mcp-v8` process), Streamable HTTP (/mcp) and legacy SSE (/sse + /message), exercising
// every tool, output read while code runs, and cancellation of a running and a queued execution.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolResultSchema,
  CancelTaskResultSchema,
  CreateTaskResultSchema,
  GetTaskResultSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded, type RunningServer } from '../../src/cli/embedded.ts';
import { TOOLS } from '../../src/gateway/mcp/mcp-server.ts';
import { freePort } from '../harness/free-port.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-test-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const COMMON = ['--max-concurrent-executions', '1', '--log-level', 'silent'];

/** Every path a server writes, in a fresh temp dir (stateful: heaps and sessions too). */
function dirs(): string[] {
  const dir = dataDir();
  return [
    '--data-dir',
    dir,
    '--directory-path',
    join(dir, 'heaps'),
    '--session-db-path',
    join(dir, 'sessions'),
  ];
}

async function httpServer(flag: '--http-port' | '--sse-port'): Promise<RunningServer> {
  const port = await freePort();
  const config = loadConfig([flag, String(port), ...dirs(), ...COMMON], {}) as Config;
  const server = await startEmbedded(config, pino({ level: 'silent' }));
  cleanups.push(() => server.close());
  return server;
}

type Structured = Record<string, unknown>;

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<Structured> {
  const res = await client.callTool({ name, arguments: args });
  if (res.isError) throw new Error(`tool ${name} failed: ${JSON.stringify(res.structuredContent)}`);
  return res.structuredContent as Structured;
}

async function waitDone(client: Client, id: string): Promise<Structured> {
  for (;;) {
    const e = await call(client, 'get_execution', { execution_id: id });
    if (e.status !== 'queued' && e.status !== 'running') return e;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const transports: Array<[string, () => Promise<Transport>]> = [
  [
    'stdio',
    async () =>
      new StdioClientTransport({
        command: process.execPath,
        args: [MAIN, ...dirs(), ...COMMON],
        stderr: 'ignore',
      }),
  ],
  [
    'Streamable HTTP',
    async () => new StreamableHTTPClientTransport(new URL(`${(await httpServer('--http-port')).url}/mcp`)),
  ],
  ['SSE', async () => new SSEClientTransport(new URL(`${(await httpServer('--sse-port')).url}/sse`))],
];

describe.each(transports)('MCP over %s', (_name, makeTransport) => {
  let client: Client;

  it('connects and lists every tool with its input and output schema', async () => {
    client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(await makeTransport());
    cleanups.push(() => client.close());
    const { tools } = await client.listTools();
    // Stateful (the default): the session tools too (mcp-sessions.test.ts covers them).
    expect(tools.map((t) => t.name)).toEqual(TOOLS.map((t) => t.name));
    for (const t of tools) {
      expect(t.outputSchema?.type).toBe('object');
      expect(t.description?.length).toBeGreaterThan(20);
    }
  });

  it("runs the seed's async walkthrough: run_js → get_execution → get_execution_output", async () => {
    const started = await call(client, 'run_js', { code: "console.log('hello');" });
    expect(started.execution_id).toEqual(expect.any(String));
    expect(['queued', 'running']).toContain(started.status);
    const done = await waitDone(client, started.execution_id as string);
    expect(done).toMatchObject({ status: 'completed' });
    expect(done.started_at).toEqual(expect.any(String));
    expect(done.completed_at).toEqual(expect.any(String));
    const out = await call(client, 'get_execution_output', { execution_id: started.execution_id });
    expect(out).toMatchObject({ data: 'hello\n', total_lines: 1, has_more: false, status: 'completed' });
  });

  it('waits for the end in one get_execution call with wait_seconds, and bounds the wait', async () => {
    const { execution_id } = await call(client, 'run_js', {
      code: 'await new Promise((r) => setTimeout(r, 300)); 6 * 7',
    });
    expect(await call(client, 'get_execution', { execution_id, wait_seconds: 30 })).toMatchObject({
      status: 'completed',
      result: '42',
    });
    const slow = await call(client, 'run_js', { code: 'await new Promise((r) => setTimeout(r, 3000))' });
    expect(
      (await call(client, 'get_execution', { execution_id: slow.execution_id, wait_seconds: 1 })).status,
    ).toBe('running');
    const refused = await client.callTool({
      name: 'get_execution',
      arguments: { execution_id: slow.execution_id, wait_seconds: 3600 },
    });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toContain('MCPV8_ERR_INPUT_INVALID');
    await call(client, 'cancel_execution', { execution_id: slow.execution_id });
  });

  it('reads output while the code is still running', async () => {
    const { execution_id } = await call(client, 'run_js', {
      code: 'console.log("first"); await new Promise((r) => setTimeout(r, 1500)); console.log("second")',
    });
    let page: Structured;
    const t0 = Date.now();
    do {
      page = await call(client, 'get_execution_output', { execution_id });
      if (page.total_lines === 0) await new Promise((r) => setTimeout(r, 20));
    } while (page.total_lines === 0 && Date.now() - t0 < 1000);
    expect(page).toMatchObject({ data: 'first\n', status: 'running', next_line_offset: 1 });
    await waitDone(client, execution_id as string);
    const rest = await call(client, 'get_execution_output', { execution_id, line_offset: 1 });
    expect(rest.data).toBe('second\n');
  });

  it('cancels a running and a queued execution, and the status sticks', async () => {
    const running = await call(client, 'run_js', { code: 'while (true) {}' });
    const queued = await call(client, 'run_js', { code: '1' });
    await new Promise((r) => setTimeout(r, 200));
    expect((await call(client, 'get_execution', { execution_id: queued.execution_id })).status).toBe(
      'queued',
    );
    expect((await call(client, 'cancel_execution', { execution_id: queued.execution_id })).status).toBe(
      'cancelled',
    );
    expect((await call(client, 'cancel_execution', { execution_id: running.execution_id })).status).toBe(
      'cancelled',
    );
    await new Promise((r) => setTimeout(r, 200));
    for (const e of [running, queued]) {
      expect((await call(client, 'get_execution', { execution_id: e.execution_id })).status).toBe(
        'cancelled',
      );
    }
  });

  it('lists executions, newest first, with a status filter', async () => {
    const page = await call(client, 'list_executions', { limit: 100 });
    const list = page.executions as Structured[];
    expect(list.length).toBeGreaterThanOrEqual(4);
    const cancelled = await call(client, 'list_executions', { status: 'cancelled' });
    expect((cancelled.executions as Structured[]).every((e) => e.status === 'cancelled')).toBe(true);
  });

  it('streams console lines as logging notifications once the client asks for them', async () => {
    const received: Array<{ level: string; data: { execution_id: string; text: string } }> = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      received.push(n.params as (typeof received)[number]);
    });
    const quiet = await call(client, 'run_js', { code: 'console.log("unasked")' });
    await waitDone(client, quiet.execution_id as string);
    await client.setLoggingLevel('info');
    const loud = await call(client, 'run_js', {
      code: 'console.debug("too low"); console.log("one"); console.error("two")',
    });
    await waitDone(client, loud.execution_id as string);
    const t0 = Date.now();
    while (received.length < 2 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
    expect(received.map((m) => [m.level, m.data.text, m.data.execution_id])).toEqual([
      ['info', 'one', loud.execution_id],
      ['error', 'two', loud.execution_id],
    ]);
  });

  it('runs run_js as an MCP task backed by the execution', async () => {
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'run_js')?.execution?.taskSupport).toBe('optional');
    const created = await client.request(
      {
        method: 'tools/call',
        params: { name: 'run_js', arguments: { code: '21 * 2' }, task: { ttl: 60_000 } },
      },
      CreateTaskResultSchema,
    );
    const { taskId } = created.task;
    // The task id is the execution id: the plain tools see the same execution.
    expect((await call(client, 'get_execution', { execution_id: taskId })).execution_id).toBe(taskId);
    const result = await client.request({ method: 'tasks/result', params: { taskId } }, CallToolResultSchema);
    expect(result.structuredContent).toMatchObject({
      execution_id: taskId,
      status: 'completed',
      result: '42',
    });
    const task = await client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema);
    expect(task.status).toBe('completed');

    const long = await client.request(
      { method: 'tools/call', params: { name: 'run_js', arguments: { code: 'while (true) {}' }, task: {} } },
      CreateTaskResultSchema,
    );
    await new Promise((r) => setTimeout(r, 200));
    await client.request(
      { method: 'tasks/cancel', params: { taskId: long.task.taskId } },
      CancelTaskResultSchema,
    );
    expect((await call(client, 'get_execution', { execution_id: long.task.taskId })).status).toBe(
      'cancelled',
    );
  });

  it('answers bad calls with MCP tool errors carrying stable codes', async () => {
    const errorOf = (res: Awaited<ReturnType<Client['callTool']>>) => {
      expect(res.isError).toBe(true);
      const [first] = res.content as Array<{ type: string; text: string }>;
      return (JSON.parse(first!.text) as { error: { code: string; message: string } }).error;
    };
    const missing = await client.callTool({ name: 'run_js', arguments: {} });
    expect(errorOf(missing)).toMatchObject({
      code: 'MCPV8_ERR_INPUT_INVALID',
      message: expect.stringContaining('code') as unknown,
    });
    const unknown = await client.callTool({ name: 'get_execution', arguments: { execution_id: 'nope' } });
    expect(errorOf(unknown).code).toBe('MCPV8_ERR_EXEC_NOT_FOUND');
    const heap = await client.callTool({ name: 'run_js', arguments: { code: '1', heap_memory_max_mb: 128 } });
    expect(errorOf(heap)).toMatchObject({
      code: 'MCPV8_ERR_LIMIT_HEAP_RANGE',
      message: expect.stringContaining('got 128') as unknown,
    });
  });
});
