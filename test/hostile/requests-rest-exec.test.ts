// Hostile POST /api/exec requests: garbage, huge and wrongly typed bodies, prototype pollution,
// limits out of every range (negative, huge, NaN, Infinity, strings), bad heaps, sessions, tags
// and waits. Each is refused with a 4xx and a stable MCPV8_ERR_* code. See
// harness/hostile-server.ts.
import { describe, it } from 'vitest';
import { runRequestCase, type RequestCase } from './harness/request-cases.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();
/** These requests refer to nothing made beforehand. */
const NO_FIXTURES = { longLine: '', heap: '' };

const INPUT = ['MCPV8_ERR_INPUT_INVALID'];
const exec = (body: unknown, query = ''): Pick<RequestCase, 'method' | 'path' | 'body'> => ({
  method: 'POST',
  path: `/api/exec${query}`,
  body,
});
const json = { 'content-type': 'application/json' };
const text = { 'content-type': 'text/plain' };

const EXEC: RequestCase[] = [
  { name: 'garbage JSON', ...exec('{"code":'), headers: json, status: [400], codes: INPUT },
  { name: 'a JSON array', ...exec('[]'), headers: json, status: [400], codes: INPUT },
  { name: 'JSON null', ...exec('null'), headers: json, status: [400], codes: INPUT },
  { name: 'code is a number', ...exec({ code: 123 }), status: [400], codes: INPUT },
  { name: 'no code', ...exec({}), status: [400], codes: INPUT },
  { name: 'empty code', ...exec({ code: '' }), status: [400], codes: INPUT },
  {
    name: 'code longer than the cell limit',
    ...exec({ code: 'x'.repeat((1 << 20) + 1) }),
    status: [400, 413],
    codes: [...INPUT, 'MCPV8_ERR_BODY_TOO_LARGE'],
  },
  {
    name: 'a 3 MiB body',
    ...exec(`{"code":"${'1'.repeat(3 << 20)}"}`),
    headers: json,
    status: [413],
    codes: ['MCPV8_ERR_BODY_TOO_LARGE'],
  },
  {
    name: 'a 3 MiB text/plain body',
    ...exec('1'.repeat(3 << 20)),
    headers: text,
    status: [413],
    codes: ['MCPV8_ERR_BODY_TOO_LARGE'],
  },
  {
    name: 'content type application/xml',
    ...exec('<code>1</code>'),
    headers: { 'content-type': 'application/xml' },
    status: [415],
    codes: ['MCPV8_ERR_CONTENT_TYPE'],
  },
  {
    name: 'content type multipart/form-data',
    ...exec('--x\r\n\r\n1\r\n--x--'),
    headers: { 'content-type': 'multipart/form-data; boundary=x' },
    status: [415],
    codes: ['MCPV8_ERR_CONTENT_TYPE'],
  },
  {
    name: 'a JSON body without a content type',
    ...exec(Buffer.from('{"code":"1"}')),
    status: [400, 415],
    codes: [...INPUT, 'MCPV8_ERR_CONTENT_TYPE'],
  },
  {
    name: 'a JSON body with a charset of garbage',
    ...exec('{"code":"1"}'),
    headers: { 'content-type': 'application/json; charset=garbage-99' },
    status: [200, 202, 400, 415],
    codes: [...INPUT, 'MCPV8_ERR_CONTENT_TYPE'],
  },
  {
    name: '__proto__ in the body',
    ...exec('{"code":"1","__proto__":{"polluted":true}}'),
    headers: json,
    status: [400],
    codes: INPUT,
  },
  {
    name: 'tags nested 100,000 deep',
    ...exec(`{"code":"1","tags":${'['.repeat(1e5)}${']'.repeat(1e5)}}`),
    headers: json,
    status: [400],
    codes: INPUT,
  },
  {
    name: 'heap_memory_max_mb -1',
    ...exec({ code: '1', heap_memory_max_mb: -1 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE'],
  },
  {
    name: 'heap_memory_max_mb 0',
    ...exec({ code: '1', heap_memory_max_mb: 0 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE'],
  },
  {
    name: 'heap_memory_max_mb 1e12',
    ...exec({ code: '1', heap_memory_max_mb: 1e12 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE'],
  },
  {
    name: 'heap_memory_max_mb 1.5',
    ...exec({ code: '1', heap_memory_max_mb: 1.5 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE', ...INPUT],
  },
  {
    name: 'heap_memory_max_mb 1e999 (Infinity)',
    ...exec('{"code":"1","heap_memory_max_mb":1e999}'),
    headers: json,
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE', ...INPUT],
  },
  {
    name: 'heap_memory_max_mb as a string',
    ...exec({ code: '1', heap_memory_max_mb: '16' }),
    status: [400],
    codes: INPUT,
  },
  {
    name: 'heap_memory_max_mb null',
    ...exec({ code: '1', heap_memory_max_mb: null }),
    status: [400],
    codes: INPUT,
  },
  {
    name: 'execution_timeout_secs 0',
    ...exec({ code: '1', execution_timeout_secs: 0 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE'],
  },
  {
    name: 'execution_timeout_secs -5',
    ...exec({ code: '1', execution_timeout_secs: -5 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE'],
  },
  {
    name: 'execution_timeout_secs 1e12',
    ...exec({ code: '1', execution_timeout_secs: 1e12 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE'],
  },
  {
    name: 'execution_timeout_secs 301',
    ...exec({ code: '1', execution_timeout_secs: 301 }),
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE'],
  },
  {
    name: 'execution_timeout_secs as garbage',
    ...exec({ code: '1', execution_timeout_secs: 'x' }),
    status: [400],
    codes: INPUT,
  },
  { name: 'language python', ...exec({ code: '1', language: 'python' }), status: [400], codes: INPUT },
  {
    name: 'heap that is not an id',
    ...exec({ code: '1', heap: 'zzz' }),
    status: [400],
    codes: ['MCPV8_ERR_HEAP_ID_INVALID'],
  },
  {
    name: 'heap with path traversal',
    ...exec({ code: '1', heap: '../../../../etc/passwd' }),
    status: [400],
    codes: ['MCPV8_ERR_HEAP_ID_INVALID'],
  },
  {
    name: 'unknown heap',
    ...exec({ code: '1', heap: 'f'.repeat(64) }),
    status: [404],
    codes: ['MCPV8_ERR_HEAP_NOT_FOUND'],
  },
  { name: 'empty session name', ...exec({ code: '1', session: '' }), status: [400], codes: INPUT },
  {
    name: 'a 10,000-char session name',
    ...exec({ code: '1', session: 's'.repeat(10000) }),
    status: [400],
    codes: INPUT,
  },
  { name: 'tags with a number value', ...exec({ code: '1', tags: { k: 1 } }), status: [400], codes: INPUT },
  {
    name: '10,000 tags',
    ...exec({ code: '1', tags: Object.fromEntries(Array.from({ length: 1e4 }, (_, i) => [`k${i}`, 'v'])) }),
    status: [400],
    codes: INPUT,
  },
  { name: 'wait=1e12', ...exec({ code: '1' }, '?wait=1e12'), status: [400], codes: INPUT },
  { name: 'wait=-1', ...exec({ code: '1' }, '?wait=-1'), status: [400], codes: INPUT },
  { name: 'wait=NaN', ...exec({ code: '1' }, '?wait=NaN'), status: [400], codes: INPUT },
  { name: 'wait=301', ...exec({ code: '1' }, '?wait=301'), status: [400], codes: INPUT },
  { name: 'wait given twice', ...exec({ code: '1' }, '?wait=1&wait=2'), status: [400], codes: INPUT },
  {
    name: 'text/plain with language=python',
    ...exec('1', '?language=python'),
    headers: text,
    status: [400],
    codes: INPUT,
  },
  {
    name: 'text/plain with heap_memory_max_mb=NaN',
    ...exec('1', '?heap_memory_max_mb=NaN'),
    headers: text,
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_HEAP_RANGE', ...INPUT],
  },
  {
    name: 'text/plain with execution_timeout_secs=1e999',
    ...exec('1', '?execution_timeout_secs=1e999'),
    headers: text,
    status: [400],
    codes: ['MCPV8_ERR_LIMIT_TIMEOUT_RANGE', ...INPUT],
  },
];

describe('POST /api/exec abuse', () => {
  for (const c of EXEC) it(c.name, () => runRequestCase(file.server, file.victim, NO_FIXTURES, c), 120_000);
});

describe('the whole file', () => file.closingChecks());
