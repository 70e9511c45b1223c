// Hostile MCP tool calls and protocol garbage: tool arguments out of every range (list_executions
// cursor "zzz" and limit 1e12, run_js with huge or odd arguments, byte pages past byte_limit) and
// malformed requests on /mcp. Each is refused with a stable MCPV8_ERR_* code or a 4xx JSON-RPC
// error, never a server fault. See harness/hostile-server.ts.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkServerAndVictim, watchCase } from './harness/case-watch.ts';
import {
  initializeMessage,
  initializeWithHost,
  rawPost,
  sdkClient,
  type RawAnswer,
} from './harness/mcp-clients.ts';
import type { HostileServer } from './harness/hostile-server.ts';
import { describeEnd, execAndWait, type OutputPageView } from './harness/rest-calls.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();
let client: Client;
let longLine: string;

beforeAll(async () => {
  client = await sdkClient(file.server, file.server.tokens.hostile);
  const v = await execAndWait(file.server, { code: 'console.log("y".repeat(65000)); 1' }, { waitSecs: 60 });
  if (v.status !== 'completed') throw new Error(`fixture: ${describeEnd(v)}`);
  longLine = v.execution_id;
}, 120_000);
afterAll(() => client?.close().catch(() => undefined));

const INPUT = ['MCPV8_ERR_INPUT_INVALID'];

interface ToolCase {
  name: string;
  tool: string;
  /** `{line}` in a string value is replaced by the id of an execution that printed a 65 KB line. */
  args: Record<string, unknown>;
  /** Accepted error codes; absent: the call must succeed and pass `check`. */
  codes?: string[];
  check?: (structured: Record<string, unknown>) => void;
}

const pageWithin = (limit: number) => (s: Record<string, unknown>) => {
  const page = s as unknown as OutputPageView;
  expect(Buffer.byteLength(page.data), 'page data bytes').toBeLessThanOrEqual(limit);
  expect(
    page.lines.reduce((n, l) => n + Buffer.byteLength(l.text), 0),
    'page lines bytes',
  ).toBeLessThanOrEqual(limit);
};

const TOOLS: ToolCase[] = [
  { name: 'list_executions cursor "zzz"', tool: 'list_executions', args: { cursor: 'zzz' }, codes: INPUT },
  {
    name: 'list_executions a 100,000-char cursor',
    tool: 'list_executions',
    args: { cursor: 'c'.repeat(1e5) },
    codes: INPUT,
  },
  { name: 'list_executions limit 1e12', tool: 'list_executions', args: { limit: 1e12 }, codes: INPUT },
  { name: 'list_executions limit -1', tool: 'list_executions', args: { limit: -1 }, codes: INPUT },
  { name: 'list_executions limit 0', tool: 'list_executions', args: { limit: 0 }, codes: INPUT },
  { name: 'list_executions limit 1.5', tool: 'list_executions', args: { limit: 1.5 }, codes: INPUT },
  { name: 'list_executions limit "x"', tool: 'list_executions', args: { limit: 'x' }, codes: INPUT },
  {
    name: 'list_executions status "bogus"',
    tool: 'list_executions',
    args: { status: 'bogus' },
    codes: INPUT,
  },
  {
    name: 'get_execution of a path traversal id',
    tool: 'get_execution',
    args: { execution_id: '../../etc/passwd' },
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND', ...INPUT],
  },
  {
    name: 'get_execution of a 100,000-char id',
    tool: 'get_execution',
    args: { execution_id: 'i'.repeat(1e5) },
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND', ...INPUT],
  },
  {
    name: 'get_execution wait_seconds 1e12',
    tool: 'get_execution',
    args: { execution_id: '{line}', wait_seconds: 1e12 },
    codes: INPUT,
  },
  {
    name: 'get_execution wait_seconds -1',
    tool: 'get_execution',
    args: { execution_id: '{line}', wait_seconds: -1 },
    codes: INPUT,
  },
  {
    name: 'get_execution_output byte_limit 100 of a 65 KB line',
    tool: 'get_execution_output',
    args: { execution_id: '{line}', byte_limit: 100 },
    check: pageWithin(100),
  },
  {
    name: 'get_execution_output byte_limit 0',
    tool: 'get_execution_output',
    args: { execution_id: '{line}', byte_limit: 0 },
    codes: INPUT,
  },
  {
    name: 'get_execution_output byte_limit 1e12',
    tool: 'get_execution_output',
    args: { execution_id: '{line}', byte_limit: 1e12 },
    codes: INPUT,
  },
  {
    name: 'get_execution_output line_limit 1e12',
    tool: 'get_execution_output',
    args: { execution_id: '{line}', line_limit: 1e12 },
    codes: INPUT,
  },
  {
    name: 'get_execution_output line_offset -5',
    tool: 'get_execution_output',
    args: { execution_id: '{line}', line_offset: -5 },
    codes: INPUT,
  },
  {
    name: 'get_execution_output both modes',
    tool: 'get_execution_output',
    args: { execution_id: '{line}', line_limit: 1, byte_limit: 1 },
    codes: INPUT,
  },
  { name: 'run_js empty code', tool: 'run_js', args: { code: '' }, codes: INPUT },
  {
    name: 'run_js code over the cell limit',
    tool: 'run_js',
    args: { code: 'x'.repeat((1 << 20) + 1) },
    codes: INPUT,
  },
  { name: 'run_js code as a number', tool: 'run_js', args: { code: 5 }, codes: INPUT },
  { name: 'run_js code as an object', tool: 'run_js', args: { code: { toString: 'x' } }, codes: INPUT },
  {
    name: 'run_js heap_memory_max_mb 1e12',
    tool: 'run_js',
    args: { code: '1', heap_memory_max_mb: 1e12 },
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE'],
  },
  {
    name: 'run_js heap_memory_max_mb -1',
    tool: 'run_js',
    args: { code: '1', heap_memory_max_mb: -1 },
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE'],
  },
  {
    name: 'run_js heap_memory_max_mb 1.5',
    tool: 'run_js',
    args: { code: '1', heap_memory_max_mb: 1.5 },
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE', ...INPUT],
  },
  {
    name: 'run_js execution_timeout_secs 0',
    tool: 'run_js',
    args: { code: '1', execution_timeout_secs: 0 },
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE'],
  },
  {
    name: 'run_js execution_timeout_secs 1e12',
    tool: 'run_js',
    args: { code: '1', execution_timeout_secs: 1e12 },
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE'],
  },
  { name: 'run_js language "python"', tool: 'run_js', args: { code: '1', language: 'python' }, codes: INPUT },
  {
    name: 'run_js heap "zzz"',
    tool: 'run_js',
    args: { code: '1', heap: 'zzz' },
    codes: ['MCPV8_ERR_HEAP_ID_INVALID'],
  },
  {
    name: 'run_js unknown heap',
    tool: 'run_js',
    args: { code: '1', heap: 'e'.repeat(64) },
    codes: ['MCPV8_ERR_HEAP_NOT_FOUND'],
  },
  {
    name: 'run_js a 10,000-char session',
    tool: 'run_js',
    args: { code: '1', session: 's'.repeat(1e4) },
    codes: INPUT,
  },
  { name: 'run_js tags with a number', tool: 'run_js', args: { code: '1', tags: { a: 1 } }, codes: INPUT },
  {
    name: 'cancel_execution of an unknown id',
    tool: 'cancel_execution',
    args: { execution_id: 'nope' },
    codes: ['MCPV8_ERR_EXEC_NOT_FOUND'],
  },
  { name: 'an unknown tool', tool: 'rm_rf', args: {}, codes: INPUT },
  {
    name: 'list_session_snapshots of a 10,000-char session',
    tool: 'list_session_snapshots',
    args: { session: 's'.repeat(1e4) },
    codes: INPUT,
  },
  {
    name: 'query_heaps_by_tags limit 1e12',
    tool: 'query_heaps_by_tags',
    args: { tags: { a: 'b' }, limit: 1e12 },
    codes: INPUT,
  },
];

async function runToolCase(c: ToolCase): Promise<void> {
  const watch = watchCase(file.server);
  const args = JSON.parse(JSON.stringify(c.args).replaceAll('{line}', longLine)) as Record<string, unknown>;
  const res = await client.callTool({ name: c.tool, arguments: args });
  const text = (res.content as Array<{ text?: string }>)[0]?.text ?? '';
  const what = `${c.name}: ${text.slice(0, 300)}`;
  if (c.codes) {
    expect(res.isError, what).toBe(true);
    const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    expect(code, what).not.toBe('MCPV8_ERR_SERVER_INTERNAL');
    expect(c.codes, what).toContain(code);
  } else {
    expect(res.isError ?? false, what).toBe(false);
    c.check?.(res.structuredContent as Record<string, unknown>);
  }
  await checkServerAndVictim(file.server, file.victim, watch, c.name);
}

interface ProtocolCase {
  name: string;
  send: (s: HostileServer) => Promise<RawAnswer>;
  status: number[];
}

const tok = (s: HostileServer) => s.tokens.hostile;
const PROTOCOL: ProtocolCase[] = [
  { name: 'invalid JSON on /mcp', send: (s) => rawPost(s, tok(s), '{"jsonrpc":'), status: [400] },
  {
    name: 'a request without a session that is not initialize',
    send: (s) => rawPost(s, tok(s), { jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    status: [400],
  },
  {
    name: 'an unknown session id',
    send: (s) => rawPost(s, tok(s), { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sessionId: 'nope' }),
    status: [404],
  },
  {
    name: 'a 4,000-char session id',
    send: (s) =>
      rawPost(s, tok(s), { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { sessionId: 'z'.repeat(4000) }),
    status: [400, 404],
  },
  {
    name: 'a batch of 1000 initialize calls',
    send: (s) =>
      rawPost(
        s,
        tok(s),
        Array.from({ length: 1000 }, (_, i) => initializeMessage(i)),
      ),
    status: [400],
  },
  {
    name: 'initialize with a 1 MB client name',
    send: (s) => rawPost(s, tok(s), initializeMessage(1, 'n'.repeat(1e6))),
    status: [200, 400, 413],
  },
  {
    name: 'initialize whose id nests 10,000 deep',
    send: (s) =>
      rawPost(
        s,
        tok(s),
        `{"jsonrpc":"2.0","method":"initialize","id":${'['.repeat(1e4)}${']'.repeat(1e4)},"params":{}}`,
      ),
    status: [400],
  },
  {
    name: 'initialize that accepts neither JSON nor SSE',
    send: (s) => rawPost(s, tok(s), initializeMessage(), { headers: { accept: 'text/html' } }),
    status: [406, 400],
  },
  {
    name: 'initialize as text/plain',
    send: (s) => rawPost(s, tok(s), initializeMessage(), { headers: { 'content-type': 'text/plain' } }),
    status: [400, 415],
  },
  {
    name: 'initialize with a foreign Origin',
    send: (s) => rawPost(s, tok(s), initializeMessage(), { headers: { origin: 'http://evil.example' } }),
    status: [403],
  },
  {
    name: 'initialize with a foreign Host',
    send: (s) => initializeWithHost(s, tok(s), 'evil.example'),
    status: [403],
  },
];

async function runProtocolCase(c: ProtocolCase): Promise<void> {
  const watch = watchCase(file.server);
  const res = await c.send(file.server);
  const what = `${c.name}: answered ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeLessThan(500);
  expect(c.status, what).toContain(res.status);
  if (res.status >= 400) {
    // A JSON-RPC error (or the API's error object): something a client can read.
    const body = res.messages[0] as { error?: unknown } | undefined;
    expect(body?.error, `${what} — no JSON error`).toBeDefined();
    expect(res.text, what).not.toContain('MCPV8_ERR_SERVER_INTERNAL');
  }
  await checkServerAndVictim(file.server, file.victim, watch, c.name);
}

describe('tool arguments', () => {
  for (const c of TOOLS) it(c.name, () => runToolCase(c), 120_000);
});
describe('protocol garbage', () => {
  for (const c of PROTOCOL) it(c.name, () => runProtocolCase(c), 120_000);
});

describe('the whole file', () => file.closingChecks());
