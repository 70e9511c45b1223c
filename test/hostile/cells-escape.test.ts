// Cells that try to reach the host: constructor chains to a host Function, process, require or
// isolated-vm's References; Error.prepareStackTrace and CallSites; eval/Function of escapes; host
// capabilities that were not configured; SharedArrayBuffer/Atomics.wait forever; WeakRef and
// FinalizationRegistry tricks; stack-overflow probes and deep recursion in JSON.stringify and
// inspection. Most cells compute whether they reached anything of the host and must answer
// false (or fail themselves); the harness also scans every result, error and output for host
// paths, frames and the server's environment. See harness/hostile-server.ts.
import { describe } from 'vitest';
import { completed, failed, oom, threw, timedOut, type CellCase } from './harness/cell-cases.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();

/** Wraps an expression that would evaluate to a host object: true when it got one. */
const reached = (expr: string) =>
  `(() => { try { const v = ${expr}; return v != null && (typeof v.pid === "number" || typeof v.versions === "object" || typeof v.mainModule !== "undefined" || typeof v.binding === "function" || typeof v.cache === "object"); } catch { return false; } })()`;
const notReached = [completed({ result: 'false' }), threw()];
/** Cells that report `typeof` of names that must not exist in the sandbox. */
const HOST_NAMES = [
  'process',
  'require',
  'module',
  'exports',
  'Buffer',
  '__dirname',
  '__filename',
  'global',
  'ivm',
  '_ivm',
  'Reference',
  'ExternalCopy',
  'Isolate',
  'Callback',
  'importScripts',
  'Deno',
  'Bun',
];

const ESCAPES: CellCase[] = [
  {
    name: 'host names are not defined',
    class: 'escape',
    code: `JSON.stringify(${JSON.stringify(HOST_NAMES)}.filter((n) => { try { return eval("typeof " + n) !== "undefined"; } catch { return false; } }))`,
    accept: [completed({ result: '"[]"' })],
  },
  {
    name: "this.constructor.constructor('return process')()",
    class: 'escape',
    code: reached("this.constructor.constructor('return process')()"),
    accept: notReached,
  },
  {
    name: '({}).constructor.constructor to the global, then process',
    class: 'escape',
    code: reached("({}).constructor.constructor('return this')().process"),
    accept: notReached,
  },
  {
    name: 'async function constructor chain',
    class: 'escape',
    code: reached("(async function () {}).constructor('return process')"),
    accept: notReached,
  },
  {
    name: 'generator function constructor chain',
    class: 'escape',
    code: reached("Object.getPrototypeOf(function* () {}).constructor('return process')().next().value"),
    accept: notReached,
  },
  {
    name: 'console.log.constructor chain',
    class: 'escape',
    code: reached("console.log.constructor('return process')()"),
    accept: notReached,
  },
  {
    name: 'setTimeout.constructor chain',
    class: 'escape',
    code: reached("setTimeout.constructor('return process')()"),
    accept: notReached,
  },
  {
    name: '__mcpv8.import.constructor chain',
    class: 'escape',
    code: reached("__mcpv8.import.constructor('return process')()"),
    accept: notReached,
  },
  {
    name: 'Date.constructor chain (the host-fed clock)',
    class: 'escape',
    code: reached("Date.now.constructor('return process')()"),
    accept: notReached,
  },
  {
    name: 'Math.random.constructor chain (the host-fed PRNG)',
    class: 'escape',
    code: reached("Math.random.constructor('return process')()"),
    accept: notReached,
  },
  {
    name: 'WebAssembly.instantiate.constructor chain',
    class: 'escape',
    code: reached("WebAssembly.instantiate.constructor('return process')()"),
    accept: notReached,
  },
  { name: 'eval of process', class: 'escape', code: reached("eval('process')"), accept: notReached },
  {
    name: 'indirect eval of require',
    class: 'escape',
    code: reached("(0, eval)('require')('child_process')"),
    accept: notReached,
  },
  {
    name: 'new Function of globalThis.process',
    class: 'escape',
    code: reached("new Function('return globalThis.process')()"),
    accept: notReached,
  },
  {
    name: 'caller chains out of host callbacks',
    class: 'escape',
    code: 'function f() { const seen = []; let c = f.caller; while (c && seen.length < 50) { seen.push(String(c).slice(0, 60)); c = c.caller; } return seen; } [1].map(f)',
    accept: [completed(), threw()],
  },
  {
    name: 'arguments.callee.caller from a timer callback',
    class: 'escape',
    code: 'await new Promise((r) => setTimeout(function () { try { r(String(arguments.callee.caller)); } catch (e) { r(e.name); } }, 1))',
    accept: [completed()],
  },
  {
    name: 'Error.prepareStackTrace collects CallSites of a host call',
    class: 'escape',
    code: 'Error.prepareStackTrace = (e, cs) => cs.map((c) => [c.getFileName(), c.getFunctionName(), c.getTypeName(), typeof c.getFunction?.(), typeof c.getThis?.()].join(",")).join("\\n"); const out = []; try { await import("node:fs"); } catch (e) { out.push(String(e.stack)); } out.push(new Error().stack); out.join("\\n---\\n")',
    accept: [completed()],
  },
  {
    name: 'CallSite.getThis / getFunction reaching a host object',
    class: 'escape',
    code: 'Error.prepareStackTrace = (e, cs) => cs.map((c) => { try { return c.getThis(); } catch { return undefined; } }); let found = false; setTimeout(() => {}, 0); const s = new Error().stack; for (const t of s) { try { if (t && t.constructor && t.constructor.constructor("return typeof process")() !== "undefined") found = true; } catch {} } found',
    accept: notReached,
  },
  {
    name: 'Error.captureStackTrace on a host function',
    class: 'escape',
    code: 'const o = {}; Error.captureStackTrace(o, setTimeout); [String(o.stack), (() => { const p = {}; Error.captureStackTrace(p); return String(p.stack); })()]',
    accept: [completed()],
  },
  {
    name: 'stack of an error thrown by a host capability',
    class: 'escape',
    code: '(() => { try { setTimeout("not a function"); return "no throw"; } catch (e) { return [e.name, e.message, String(e.stack)]; } })()',
    accept: [completed()],
  },
  {
    name: 'import of node:fs',
    class: 'escape',
    code: 'import fs from "node:fs"; fs.readFileSync("/etc/passwd", "utf8")',
    accept: [failed('ModuleError')],
  },
  {
    name: 'dynamic import of node:child_process',
    class: 'escape',
    code: 'await import("node:child_process")',
    accept: [failed('ModuleError')],
  },
  {
    name: 'import of file:///etc/passwd',
    class: 'escape',
    code: 'await import("file:///etc/passwd")',
    accept: [failed('ModuleError')],
  },
  {
    name: 'eval of a dynamic import of node:fs',
    class: 'escape',
    code: 'await eval("import(\\"node:fs\\")")',
    accept: [failed('ModuleError'), threw()],
  },
  {
    name: 'fetch without a fetch policy',
    class: 'escape',
    code: 'await fetch("http://127.0.0.1:1/")',
    accept: [threw()],
  },
  {
    name: 'fs without a filesystem policy',
    class: 'escape',
    code: 'await fs.readFile("/etc/passwd")',
    accept: [threw()],
  },
  {
    name: 'WebAssembly streaming APIs',
    class: 'escape',
    code: 'await WebAssembly.compileStreaming(new Response(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])))',
    accept: [threw()],
  },
  {
    name: 'globalThis.__mcpv8.import with a forged specifier object',
    class: 'escape',
    code: 'await __mcpv8.import({ toString() { return "node:fs"; } })',
    accept: [failed('ModuleError'), threw()],
  },
  {
    name: 'SharedArrayBuffer + Atomics.wait forever',
    class: 'escape',
    code: 'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)',
    accept: [timedOut(), threw()],
  },
  {
    name: 'Atomics.wait with a timeout of Infinity on a plain buffer',
    class: 'escape',
    code: 'Atomics.wait(new Int32Array(4), 0, 0, Infinity)',
    accept: [threw(/TypeError/), timedOut()],
  },
  {
    name: 'Atomics.waitAsync never notified',
    class: 'escape',
    code: 'await Atomics.waitAsync(new Int32Array(new SharedArrayBuffer(4)), 0, 0).value',
    accept: [timedOut(), threw()],
  },
  {
    name: 'FinalizationRegistry callback that spins',
    class: 'escape',
    code: 'const r = new FinalizationRegistry(() => { for (;;); }); for (let i = 0; i < 1e5; i++) r.register({}, i); 1',
    accept: [completed({ result: '1' }), timedOut()],
  },
  {
    name: 'FinalizationRegistry callback that prints and throws after the cell',
    class: 'escape',
    code: 'const r = new FinalizationRegistry(() => { console.log("finalizer"); throw new Error("fin"); }); for (let i = 0; i < 1e5; i++) r.register({ i }, i); globalThis.keep = r; 1',
    accept: [completed({ result: '1' }), threw(undefined, /fin/)],
  },
  {
    name: 'WeakRef to a host-provided function',
    class: 'escape',
    code: 'const w = new WeakRef(setTimeout); typeof w.deref()',
    accept: [completed({ result: '"function"' })],
  },
];

const STACK: CellCase[] = [
  {
    name: 'plain infinite recursion',
    class: 'stack',
    code: 'const f = () => f(); f()',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'recursion that catches the overflow and recurses again',
    class: 'stack',
    code: 'let n = 0; const f = () => { try { f(); } catch { n++; if (n < 1e6) f(); } }; f(); n',
    accept: [timedOut(), threw(/RangeError/), completed()],
  },
  {
    name: 'stack overflow inside a getter during serialisation',
    class: 'stack',
    code: 'const o = { get a() { return this.a; } }; o',
    accept: [completed(), threw(/RangeError/)],
  },
  {
    name: 'JSON.stringify of a 100k-deep object',
    class: 'stack',
    code: 'let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; JSON.stringify(o).length',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'JSON.parse of 1e6 nested arrays',
    class: 'stack',
    code: 'JSON.parse("[".repeat(1e6) + "]".repeat(1e6)).length',
    accept: [threw(/RangeError|SyntaxError/), oom],
  },
  {
    name: 'console.log of a 100k-deep object',
    class: 'stack',
    code: 'let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; console.log(o); 1',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'console.log of a 100k-deep array',
    class: 'stack',
    code: 'let a = []; for (let i = 0; i < 1e5; i++) a = [a]; console.log(a); 1',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'toString recursion through template literals',
    class: 'stack',
    code: 'const o = { toString() { return `${o}`; } }; `${o}`',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'Proxy get trap recursion',
    class: 'stack',
    code: 'const p = new Proxy({}, { get(t, k, r) { return r[k]; } }); p.x',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'recursion in a timer callback',
    class: 'stack',
    code: 'setTimeout(() => { const f = () => f(); f(); }, 0); 1',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'recursion in a microtask',
    class: 'stack',
    code: 'queueMicrotask(() => { const f = () => f(); f(); }); 1',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'recursion through a host callback (console.log of a self-inspecting object)',
    class: 'stack',
    code: 'const o = { [Symbol.for("nodejs.util.inspect.custom")]() { console.log(o); return "x"; } }; console.log(o); 1',
    accept: [completed({ result: '1' }), threw(/RangeError/)],
  },
  {
    name: 'recursion through setTimeout registration',
    class: 'stack',
    code: 'const f = () => { setTimeout(() => {}, 0); f(); }; f()',
    accept: [threw(/RangeError/)],
  },
  {
    name: 'deep recursion through Function.prototype.apply with huge argument lists',
    class: 'stack',
    code: 'Math.max.apply(null, new Array(1e7).fill(1))',
    accept: [threw(/RangeError/), completed({ result: '1' }), oom],
  },
];

describe.concurrent('escapes', () => file.cellCases(ESCAPES));
describe.concurrent('stack probes', () => file.cellCases(STACK));
describe('the whole file', () => file.closingChecks());
