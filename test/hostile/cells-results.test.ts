// Hostile results (huge, cyclic, deep, throwing getters and toJSON, Proxies, symbols, BigInts,
// functions) and hostile thrown values: a result is at most 1 MiB with result_truncated set when
// cut, error name/message/stack are bounded, and a value that cannot be serialised ends the cell
// itself (completed with inspection text, or failed/Error), never its runner. See
// harness/hostile-server.ts.
import { describe, expect } from 'vitest';
import { HEAVY, completed, oom, threw, timedOut, type CellCase } from './harness/cell-cases.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();

const RESULTS: CellCase[] = [
  {
    name: 'a 2 MB string result is cut at 1 MiB',
    class: 'result',
    code: '"x".repeat(2e6)',
    limits: HEAVY,
    accept: [completed({ resultType: 'string', resultTruncated: true, result: /^"x+$/ })],
  },
  {
    name: 'a 2 M-char multi-byte string result is cut at 1 MiB',
    class: 'result',
    code: '"é".repeat(2e6)',
    limits: HEAVY,
    accept: [completed({ resultType: 'string', resultTruncated: true })],
    check: (v) =>
      expect(Buffer.byteLength(v.result ?? ''), 'result bytes').toBeLessThanOrEqual((1 << 20) + 64),
  },
  {
    name: 'a 300k-number array result',
    class: 'result',
    code: 'Array.from({ length: 3e5 }, (_, i) => i)',
    limits: HEAVY,
    accept: [completed({ resultType: 'array', resultTruncated: true })],
  },
  {
    name: 'an object with 1e5 keys',
    class: 'result',
    code: 'Object.fromEntries(Array.from({ length: 1e5 }, (_, i) => ["key" + i, i]))',
    limits: HEAVY,
    accept: [completed({ resultType: 'object', resultTruncated: true })],
  },
  {
    name: 'a result just under 1 MiB is whole',
    class: 'result',
    code: '"z".repeat((1 << 20) - 10)',
    limits: HEAVY,
    accept: [completed({ resultTruncated: false })],
  },
  {
    name: 'a cyclic object',
    class: 'result',
    code: 'const a = { n: 1 }; a.self = a; a',
    accept: [completed({ resultType: 'object', result: /Circular/ })],
  },
  {
    name: 'a cyclic array',
    class: 'result',
    code: 'const a = [1]; a.push(a); a',
    accept: [completed({ resultType: 'array' })],
  },
  {
    name: 'a huge cyclic graph',
    class: 'result',
    code: 'const nodes = Array.from({ length: 1e5 }, (_, i) => ({ i })); nodes.forEach((n, i) => (n.next = nodes[(i + 1) % nodes.length])); nodes',
    accept: [completed({ resultType: 'array' }), timedOut(), oom],
  },
  {
    name: 'a 100k-deep object',
    class: 'result',
    code: 'let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; o',
    accept: [completed({ resultType: 'object' }), threw(/RangeError/)],
  },
  {
    name: 'a 100k-deep array',
    class: 'result',
    code: 'let a = []; for (let i = 0; i < 1e5; i++) a = [a]; a',
    accept: [completed({ resultType: 'array' }), threw(/RangeError/)],
  },
  {
    name: 'a getter that throws',
    class: 'result',
    code: '({ get a() { throw new Error("getter"); } })',
    accept: [completed({ resultType: 'object' }), threw(undefined, /getter/)],
  },
  {
    name: 'a getter that loops',
    class: 'result',
    code: '({ get a() { for (;;); } })',
    accept: [timedOut(), completed({ resultType: 'object' })],
  },
  {
    name: 'toJSON that throws',
    class: 'result',
    code: '({ toJSON() { throw new Error("tojson"); } })',
    accept: [completed({ resultType: 'object' }), threw(undefined, /tojson/)],
  },
  { name: 'toJSON that loops', class: 'result', code: '({ toJSON() { for (;;); } })', accept: [timedOut()] },
  {
    name: 'toJSON that returns 5 MB',
    class: 'result',
    code: '({ toJSON() { return "t".repeat(5e6); } })',
    limits: HEAVY,
    accept: [completed({ resultTruncated: true }), oom],
  },
  {
    name: 'toJSON that returns itself forever',
    class: 'result',
    code: 'const o = { toJSON() { return { o: this, n: Math.random() }; } }; o',
    accept: [completed(), threw(/RangeError/), timedOut(), oom],
  },
  {
    name: 'a Proxy whose traps throw',
    class: 'result',
    code: 'new Proxy({}, { get() { throw new Error("boom"); }, ownKeys() { throw new Error("keys"); }, getOwnPropertyDescriptor() { throw new Error("desc"); } })',
    accept: [completed(), threw(undefined, /boom|keys|desc/)],
  },
  {
    name: 'a Proxy with a million keys',
    class: 'result',
    code: 'new Proxy({}, { ownKeys() { return Array.from({ length: 1e6 }, (_, i) => "k" + i); }, getOwnPropertyDescriptor() { return { value: 1, enumerable: true, configurable: true }; }, get() { return 1; } })',
    accept: [completed({ resultTruncated: true }), completed(), threw(), timedOut(), oom],
  },
  {
    name: 'a revoked Proxy',
    class: 'result',
    code: 'const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); proxy',
    accept: [completed(), threw(/TypeError/)],
  },
  {
    name: 'a Proxy function',
    class: 'result',
    code: 'new Proxy(function f() {}, { apply() { throw new Error("x"); } })',
    accept: [completed({ resultType: 'function' })],
  },
  {
    name: 'a Symbol',
    class: 'result',
    code: 'Symbol("s")',
    accept: [completed({ resultType: 'symbol', result: 'Symbol(s)' })],
  },
  {
    name: 'a BigInt',
    class: 'result',
    code: '10n ** 30n',
    accept: [completed({ resultType: 'bigint', result: '1000000000000000000000000000000n' })],
  },
  {
    name: 'a function',
    class: 'result',
    code: '(function secret() { return 1; })',
    accept: [completed({ resultType: 'function' })],
  },
  {
    name: 'a class',
    class: 'result',
    code: 'class K {}; K',
    accept: [completed({ resultType: 'function' })],
  },
  { name: 'undefined', class: 'result', code: 'undefined', accept: [completed({ resultType: 'undefined' })] },
  {
    name: 'NaN, -0 and Infinity',
    class: 'result',
    code: '[NaN, -0, Infinity]',
    accept: [completed({ resultType: 'array' })],
  },
  {
    name: 'a lone surrogate',
    class: 'result',
    code: '"\\uD800"',
    accept: [completed({ resultType: 'string' })],
  },
  {
    name: 'an Error object as the value',
    class: 'result',
    code: 'new RangeError("value, not thrown")',
    accept: [completed({ resultType: 'object' })],
  },
  {
    name: 'an object with a BigInt inside and a huge array',
    class: 'result',
    code: '({ b: 1n, a: Array.from({ length: 1e6 }, (_, i) => i) })',
    limits: HEAVY,
    accept: [completed({ resultType: 'object' }), oom],
  },
  {
    name: 'a typed array of 5 MB',
    class: 'result',
    code: 'new Uint8Array(5e6)',
    limits: HEAVY,
    accept: [completed({ resultType: 'object' }), oom],
  },
  {
    name: 'an object whose Symbol.toPrimitive and valueOf throw',
    class: 'result',
    code: '({ [Symbol.toPrimitive]() { throw new Error("p"); }, valueOf() { throw new Error("v"); }, toString() { throw new Error("s"); } })',
    accept: [completed({ resultType: 'object' })],
  },
  {
    name: 'an object with a throwing constructor getter',
    class: 'result',
    code: 'const o = {}; Object.defineProperty(o, "constructor", { get() { throw new Error("c"); } }); o',
    accept: [completed({ resultType: 'object' }), threw(undefined, /^c$/)],
  },
  {
    name: 'thrown: a huge message and name are bounded',
    class: 'result',
    code: 'const e = new Error("m".repeat(1e6)); e.name = "n".repeat(1e5); throw e',
    accept: [threw()],
  },
  {
    name: 'thrown: a huge stack is bounded',
    class: 'result',
    code: 'Error.stackTraceLimit = Infinity; const f = (n) => (n ? f(n - 1) : (() => { throw new Error("deep"); })()); f(8000)',
    accept: [threw(/^Error$/, /deep/), threw(/RangeError/)],
  },
  {
    name: 'thrown: a stack getter that throws',
    class: 'result',
    code: 'const e = new Error("s"); Object.defineProperty(e, "stack", { get() { throw new Error("g"); } }); throw e',
    accept: [threw()],
  },
  {
    name: 'thrown: a name getter that loops',
    class: 'result',
    code: 'throw { get name() { for (;;); } }',
    accept: [timedOut(), threw()],
  },
  {
    name: 'thrown: a message that is a Proxy',
    class: 'result',
    code: 'const e = new Error("x"); e.message = new Proxy({}, { get() { throw 1; } }); throw e',
    accept: [threw()],
  },
  {
    name: 'thrown: null, a Symbol, a number',
    class: 'result',
    code: 'throw [null, Symbol("z"), 1][Math.floor(Math.random() * 3)]',
    accept: [threw()],
  },
  {
    name: 'thrown: a revoked Proxy',
    class: 'result',
    code: 'const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); throw proxy',
    accept: [threw()],
  },
];

describe.concurrent('results', () => file.cellCases(RESULTS));
describe('the whole file', () => file.closingChecks());
