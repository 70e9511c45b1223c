// Hostile cells that burn CPU (loops, regex backtracking, microtask and timer storms, async
// floods, timers past the maximum) or memory (heap, strings, arrays, typed arrays, wasm memories,
// resizable ArrayBuffers): each ends by its own limit — timed_out/Timeout or failed/OutOfMemory
// (or a RangeError the engine throws) — and harms nobody else. See harness/hostile-server.ts.
import { describe } from 'vitest';
import { HEAVY, completed, oom, threw, timedOut, type CellCase } from './harness/cell-cases.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();

/** `(module (func (export "f") (loop (br 0))))` */
const WASM_SPIN =
  'new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,102,0,0,10,9,1,7,0,3,64,12,0,11,11]))).exports.f()';

const CPU: CellCase[] = [
  { name: 'for(;;){}', class: 'cpu', code: 'for(;;){}', accept: [timedOut()] },
  { name: 'while(true);', class: 'cpu', code: 'while (true);', accept: [timedOut()] },
  {
    name: 'infinite loop with a 1 s limit',
    class: 'cpu',
    code: 'for(;;);',
    limits: { timeoutSecs: 1 },
    accept: [timedOut()],
  },
  {
    name: 'loop inside try/finally that re-enters',
    class: 'cpu',
    code: 'for(;;){ try { for(;;); } finally { continue; } }',
    accept: [timedOut()],
  },
  {
    name: 'regex backtracking (a+)+$',
    class: 'cpu',
    code: '/^(a+)+$/.test("a".repeat(40) + "b")',
    accept: [timedOut()],
  },
  {
    name: 'regex backtracking (x+x+)+y',
    class: 'cpu',
    code: '/(x+x+)+y/.test("x".repeat(60))',
    accept: [timedOut()],
  },
  {
    name: 'regex backtracking with lookahead',
    class: 'cpu',
    code: '/^(?=(a|aa)+$)(a|aa)+b/.test("a".repeat(5000))',
    accept: [timedOut(), completed()],
  },
  { name: 'wasm infinite loop', class: 'cpu', code: WASM_SPIN, accept: [timedOut()] },
  {
    name: 'infinite generator spread',
    class: 'cpu',
    code: '[...(function* () { for (;;) yield 1; })()]',
    accept: [timedOut(), oom, threw(/RangeError/)],
  },
  {
    name: 'exponential try/catch recursion',
    class: 'cpu',
    code: 'const f = () => { try { f(); } catch { f(); } }; f()',
    accept: [timedOut(), threw(/RangeError/)],
  },
  {
    name: 'huge BigInt power as the result',
    class: 'cpu',
    code: '2n ** 4000000n',
    accept: [completed({ resultType: 'bigint', result: /(\[truncated\]|\d)$/ }), timedOut(), oom],
  },
  {
    name: 'sort of 300k numbers completes',
    class: 'cpu',
    code: 'Array.from({ length: 3e5 }, (_, i) => -i).sort((a, b) => a - b).length',
    limits: HEAVY,
    accept: [completed({ result: '300000' })],
  },
];

const ASYNC: CellCase[] = [
  {
    name: 'busy microtask loop (then chain)',
    class: 'async',
    code: 'const f = () => Promise.resolve().then(f); f(); 1',
    accept: [timedOut(), oom],
  },
  {
    name: 'busy queueMicrotask loop',
    class: 'async',
    code: 'const f = () => queueMicrotask(f); f(); 1',
    accept: [timedOut()],
  },
  { name: 'for(;;) await null', class: 'async', code: 'for (;;) await null', accept: [timedOut()] },
  {
    name: 'async recursion without end',
    class: 'async',
    code: 'const f = async () => { await 0; return f(); }; await f()',
    accept: [timedOut(), oom],
  },
  {
    name: 'a million pending async functions',
    class: 'async',
    code: 'for (let i = 0; i < 1e6; i++) (async () => { await null; })(); 1',
    accept: [completed({ result: '1' }), oom],
  },
  {
    name: 'Promise.all of a million',
    class: 'async',
    code: 'await Promise.all(Array.from({ length: 1e6 }, async (_, i) => i)); 1',
    accept: [completed({ result: '1' }), oom],
  },
  {
    name: 'await a promise resolved only by a microtask storm',
    class: 'async',
    code: 'await new Promise((r) => { let n = 0; const f = () => (++n > 1e9 ? r(n) : queueMicrotask(f)); f(); })',
    accept: [timedOut()],
  },
  {
    name: 'Promise.race of never-settling promises',
    class: 'async',
    code: 'await Promise.race(Array.from({ length: 1e5 }, () => new Promise(() => {})))',
    accept: [timedOut(), threw()],
  },
];

const TIMERS: CellCase[] = [
  {
    name: 'setInterval storm (10k intervals)',
    class: 'timers',
    code: 'for (let i = 0; i < 10000; i++) setInterval(() => {}, 0); 1',
    accept: [timedOut(), threw(/RangeError/)],
  },
  {
    name: 'setInterval storm past the timer cap',
    class: 'timers',
    code: 'for (let i = 0; i < 1e6; i++) setInterval(() => {}, 0); 1',
    accept: [threw(/RangeError/, /timers/), timedOut()],
  },
  {
    name: 'one interval never cleared',
    class: 'timers',
    code: 'setInterval(() => {}, 1); 1',
    accept: [timedOut()],
  },
  {
    name: 'busy interval',
    class: 'timers',
    code: 'setInterval(() => { for (let i = 0; i < 1e6; i++); }, 0); 1',
    accept: [timedOut()],
  },
  {
    name: 'setTimeout recursion',
    class: 'timers',
    code: 'const f = () => setTimeout(f, 0); f(); 1',
    accept: [timedOut()],
  },
  {
    name: 'setImmediate fan-out',
    class: 'timers',
    code: 'const f = () => { setImmediate(f); setImmediate(f); }; f(); 1',
    accept: [timedOut(), threw(/RangeError/)],
  },
  {
    name: 'timer past the maximum delay (2**31) fires at once, as in Node',
    class: 'timers',
    code: 'let fired = 0; setTimeout(() => fired++, 2 ** 31); await new Promise((r) => setTimeout(r, 50)); fired',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'timer of 1e12 ms fires at once',
    class: 'timers',
    code: 'setTimeout(() => {}, 1e12); 1',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'timer with NaN/-1/Infinity delays',
    class: 'timers',
    code: 'setTimeout(() => {}, NaN); setTimeout(() => {}, -1); setTimeout(() => {}, Infinity); 1',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'timer just below the maximum keeps the cell to its deadline',
    class: 'timers',
    code: 'setTimeout(() => {}, 2 ** 31 - 1); 1',
    accept: [timedOut()],
  },
  {
    name: 'timer whose delay is an object with a throwing valueOf',
    class: 'timers',
    code: 'setTimeout(() => {}, { valueOf() { throw new Error("v"); } }); 1',
    accept: [threw(undefined, /v/), completed({ result: '1' })],
  },
  {
    name: 'timer that throws after the cell settled',
    class: 'timers',
    code: 'setTimeout(() => { throw new TypeError("late"); }, 5); 1',
    accept: [threw(/TypeError/, /late/)],
  },
];

const MEMORY: CellCase[] = [
  {
    name: 'array of arrays until the heap is full',
    class: 'memory',
    code: 'const a = []; for (;;) a.push(new Array(1e5).fill(1))',
    accept: [oom],
  },
  {
    name: 'object with endless keys',
    class: 'memory',
    code: 'const o = {}; for (let i = 0; ; i++) o["k" + i] = i',
    accept: [oom, timedOut()],
  },
  {
    name: 'Map without end',
    class: 'memory',
    code: 'const m = new Map(); for (let i = 0; ; i++) m.set(i, { i })',
    accept: [oom, timedOut()],
  },
  {
    name: 'closure chain',
    class: 'memory',
    code: 'let f = () => 0; for (;;) { const g = f; f = () => g() + 1; }',
    accept: [oom],
  },
  {
    name: 'string doubling past the maximum length',
    class: 'memory',
    code: 'let s = "ab"; for (let i = 0; i < 40; i++) s += s; s.length',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'copying a 256 Mi-char rope',
    class: 'memory',
    code: 'let s = "ab"; for (let i = 0; i < 27; i++) s += s; s.toUpperCase().length',
    limits: HEAVY,
    accept: [oom, threw(/RangeError/)],
  },
  {
    name: '"x".repeat(2**29)',
    class: 'memory',
    code: '"x".repeat(2 ** 29)',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: '"x".repeat(2**28) copied',
    class: 'memory',
    code: '"x".repeat(2 ** 28).toUpperCase().length',
    limits: HEAVY,
    accept: [oom, threw(/RangeError/)],
  },
  {
    name: 'string append without end',
    class: 'memory',
    code: 'let s = ""; for (;;) s += "xxxxxxxxxx" + s.length',
    accept: [oom, threw(/RangeError/), timedOut()],
  },
  {
    name: 'Array(1e9).fill(0)',
    class: 'memory',
    code: 'new Array(1e9).fill(0).length',
    accept: [oom, threw(/RangeError/), timedOut()],
  },
  {
    name: 'sparse 2**32-1 array as the result',
    class: 'memory',
    code: 'new Array(2 ** 32 - 1)',
    accept: [completed({ resultType: 'array' }), oom, threw(/RangeError/), timedOut()],
  },
  {
    name: 'huge join of a sparse array',
    class: 'memory',
    code: 'new Array(2 ** 28).join("x").toUpperCase().length',
    accept: [oom, threw(/RangeError/), timedOut()],
  },
  {
    name: 'ArrayBuffer(1e9)',
    class: 'memory',
    code: 'new ArrayBuffer(1e9).byteLength',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'Uint8Array(2**31)',
    class: 'memory',
    code: 'new Uint8Array(2 ** 31).length',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'typed arrays of 1 MiB without end',
    class: 'memory',
    code: 'const a = []; for (;;) a.push(new Uint8Array(1 << 20).fill(1))',
    accept: [oom, threw(/RangeError/)],
  },
  {
    name: 'Float64Array fill of 200 MiB',
    class: 'memory',
    code: 'new Float64Array(25 * 2 ** 20).fill(1.5).length',
    accept: [oom, threw(/RangeError/)],
  },
  {
    name: 'wasm memory of 65536 pages (4 GiB)',
    class: 'memory',
    code: 'new WebAssembly.Memory({ initial: 65536 }).buffer.byteLength',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'wasm memory grown in a loop',
    class: 'memory',
    code: 'const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); for (;;) { m.grow(256); new Uint8Array(m.buffer).fill(1); }',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'ten thousand wasm memories of 10 MiB',
    class: 'memory',
    code: 'const ms = []; for (let i = 0; i < 10000; i++) { const m = new WebAssembly.Memory({ initial: 160 }); new Uint8Array(m.buffer).fill(1); ms.push(m); } ms.length',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'resizable ArrayBuffer resized to 4 GiB',
    class: 'memory',
    code: 'const b = new ArrayBuffer(1, { maxByteLength: 2 ** 32 }); b.resize(2 ** 32); b.byteLength',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'resizable ArrayBuffers of 1 GiB, touched, without end',
    class: 'memory',
    code: 'const bs = []; for (;;) { const b = new ArrayBuffer(0, { maxByteLength: 2 ** 30 }); b.resize(2 ** 30); new Uint8Array(b).fill(1); bs.push(b); }',
    accept: [threw(/RangeError/), oom],
  },
  {
    name: 'growable SharedArrayBuffer grown to 2 GiB',
    class: 'memory',
    code: 'const b = new SharedArrayBuffer(1, { maxByteLength: 2 ** 31 }); b.grow(2 ** 31); new Uint8Array(b).fill(1); b.byteLength',
    accept: [threw(/RangeError|ReferenceError|TypeError/), oom],
  },
  {
    name: 'structuredClone bomb',
    class: 'memory',
    code: 'let o = ["x".repeat(1 << 20)]; for (let i = 0; i < 64; i++) o = [o, o]; structuredClone(o)',
    accept: [threw(/ReferenceError|RangeError|DataCloneError/), oom, timedOut()],
  },
  {
    name: 'JSON.stringify of ten million strings',
    class: 'memory',
    code: 'JSON.stringify(new Array(1e7).fill("abc")).length',
    accept: [oom, threw(/RangeError/), timedOut()],
  },
  {
    name: 'heap blow-up in a timer after the cell settled',
    class: 'memory',
    code: 'setTimeout(() => { const a = []; for (;;) a.push({ a }); }, 0); 1',
    accept: [oom],
  },
  {
    name: 'heap blow-up in a microtask',
    class: 'memory',
    code: 'Promise.resolve().then(() => { const a = []; for (;;) a.push([1, 2, 3]); }); 1',
    accept: [oom],
  },
  {
    name: 'a 12 MiB typed array with a 16 MiB cap still fits',
    class: 'memory',
    code: 'new Uint8Array(12 << 20).fill(1).length',
    limits: HEAVY,
    accept: [completed({ result: String(12 << 20) })],
  },
  {
    name: 'heap cap asked below the minimum runs with 8 MiB and still works',
    class: 'memory',
    code: 'new Array(1000).fill(1).length',
    limits: { heapMb: 4 },
    accept: [completed({ result: '1000' })],
  },
];

describe.concurrent('CPU', () => file.cellCases(CPU));
describe.concurrent('async floods', () => file.cellCases(ASYNC));
describe.concurrent('timers', () => file.cellCases(TIMERS));
describe.concurrent('memory', () => file.cellCases(MEMORY));
describe('the whole file', () => file.closingChecks());
