// Cells that try to forge or break their own report: replacing Promise, JSON, String, Array,
// Reflect, Error and Function intrinsics, polluting prototypes, tampering with __mcpv8 or calling
// its settle with forged values. A cell ends with its real value or fails itself; it never makes
// its runner fail or get replaced (each case checks the runner restart count, so these cases run
// one at a time). See harness/hostile-server.ts.
import { describe } from 'vitest';
import { HEAVY, completed, oom, threw, timedOut, type CellCase } from './harness/cell-cases.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();

const FORGING: CellCase[] = [
  {
    name: 'Promise.prototype.then replaced with a 100-char forgery',
    class: 'forging',
    code: 'Promise.prototype.then = function (f) { f("x".repeat(100)); }; 1',
    accept: [completed({ result: '1' }), threw()],
  },
  {
    name: 'Promise.prototype.then replaced with a 25 M-char forgery',
    class: 'forging',
    code: 'Promise.prototype.then = function (ok) { ok("x".repeat(25e6)); return this; }; 1',
    accept: [completed({ result: '1' }), threw(), oom],
  },
  {
    name: 'Promise.prototype.then reporting something that is not JSON',
    class: 'forging',
    code: 'Promise.prototype.then = function (ok) { ok({ toString() { return "not json"; } }); }; 1',
    accept: [completed({ result: '1' }), threw()],
  },
  {
    name: 'Promise.prototype.then reporting the wrong shape',
    class: 'forging',
    code: 'Promise.prototype.then = function (ok) { ok(\'{"ok":true,"result":5,"resultType":7,"truncated":"no"}\'); }; 1',
    accept: [completed({ result: '1' }), threw()],
  },
  {
    name: 'Promise.prototype.then reporting a forged failure',
    class: 'forging',
    code: 'Promise.prototype.then = function (ok) { ok(\'{"ok":false,"error":{"name":"RunnerCrashed","message":"forged"}}\'); }; 1',
    accept: [completed({ result: '1' }), threw()],
  },
  {
    name: 'Promise.prototype.then that throws',
    class: 'forging',
    code: 'Promise.prototype.then = function () { throw new Error("then"); }; 1',
    accept: [completed({ result: '1' }), threw(undefined, /then/)],
  },
  {
    name: 'Promise.prototype.then that never calls back',
    class: 'forging',
    code: 'Promise.prototype.then = function () {}; 1',
    accept: [completed({ result: '1' }), threw()],
  },
  {
    name: 'Promise.prototype.catch and finally replaced',
    class: 'forging',
    code: 'Promise.prototype.catch = Promise.prototype.finally = function () { return "forged"; }; 1',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'Promise replaced by a throwing constructor',
    class: 'forging',
    code: 'globalThis.Promise = function () { throw new Error("P"); }; 2',
    accept: [completed({ result: '2' }), threw()],
  },
  {
    name: 'Promise.resolve returning a forged thenable',
    class: 'forging',
    code: 'Promise.resolve = () => ({ then(ok) { ok("forged"); } }); 3',
    accept: [completed({ result: '3' })],
  },
  {
    name: 'Promise[Symbol.species] replaced',
    class: 'forging',
    code: 'Object.defineProperty(Promise, Symbol.species, { get() { return function (exec) { exec(() => {}, () => {}); }; } }); 4',
    accept: [completed({ result: '4' })],
  },
  {
    name: 'Promise.prototype.constructor replaced',
    class: 'forging',
    code: 'Promise.prototype.constructor = function (exec) { exec(() => {}, () => {}); }; 5',
    accept: [completed({ result: '5' })],
  },
  {
    name: 'JSON.stringify forging a report',
    class: 'forging',
    code: 'JSON.stringify = () => \'{"ok":true,"result":"\\\\"forged\\\\"","resultType":"string","truncated":false}\'; 6',
    accept: [completed({ result: '6' })],
  },
  {
    name: 'JSON.stringify that throws',
    class: 'forging',
    code: 'JSON.stringify = () => { throw new Error("js"); }; ({ a: 1 })',
    accept: [completed({ result: '{"a":1}' })],
  },
  {
    name: 'JSON.parse replaced',
    class: 'forging',
    code: 'JSON.parse = () => ({ ok: true, result: "forged" }); 7',
    accept: [completed({ result: '7' })],
  },
  {
    name: 'the JSON global removed',
    class: 'forging',
    code: 'Object.defineProperty(globalThis, "JSON", { value: undefined }); ({ b: 2 })',
    accept: [completed({ result: '{"b":2}' })],
  },
  {
    name: 'String.prototype.slice forging a truncated result',
    class: 'forging',
    code: 'String.prototype.slice = () => "forged"; "y".repeat(2e6)',
    limits: HEAVY,
    accept: [completed({ resultTruncated: true, result: /^"y+$/ })],
  },
  {
    name: 'String.prototype.substring/substr/at replaced',
    class: 'forging',
    code: 'String.prototype.substring = String.prototype.substr = String.prototype.at = () => "forged"; "z".repeat(2e6)',
    limits: HEAVY,
    accept: [completed({ resultTruncated: true, result: /^"z+$/ })],
  },
  {
    name: 'String.prototype.toString and Number.prototype.toString replaced',
    class: 'forging',
    code: 'String.prototype.toString = Number.prototype.toString = () => "forged"; [8, "s"]',
    accept: [completed({ result: '[8,"s"]' })],
  },
  {
    name: 'Array.prototype.join replaced',
    class: 'forging',
    code: 'Array.prototype.join = () => "forged"; [1, 2, 3]',
    accept: [completed({ result: '[1,2,3]' })],
  },
  {
    name: 'Array.prototype iterator, map and push replaced',
    class: 'forging',
    code: 'Array.prototype[Symbol.iterator] = function* () { yield "forged"; }; Array.prototype.map = Array.prototype.push = () => "forged"; [1, 2]',
    accept: [completed({ result: '[1,2]' })],
  },
  {
    name: 'Array.isArray lying',
    class: 'forging',
    code: 'Array.isArray = () => true; ({ a: 1 })',
    accept: [completed({ result: '{"a":1}', resultType: 'object' })],
  },
  {
    name: 'Object.defineProperty and Object.freeze replaced',
    class: 'forging',
    code: 'Object.defineProperty = () => { throw new Error("odp"); }; Object.freeze = (x) => x; 9',
    accept: [completed({ result: '9' })],
  },
  {
    name: 'Reflect emptied',
    class: 'forging',
    code: 'for (const k of Object.getOwnPropertyNames(Reflect)) Reflect[k] = () => "forged"; ({ c: 3 })',
    accept: [completed({ result: '{"c":3}' })],
  },
  {
    name: 'Object.prototype.then: every object a thenable',
    class: 'forging',
    code: 'Object.prototype.then = function (ok) { ok("forged"); }; 10',
    accept: [completed({ result: '10' }), threw()],
  },
  {
    name: 'Object.prototype polluted with report fields',
    class: 'forging',
    code: 'Object.assign(Object.prototype, { ok: false, error: { name: "RunnerCrashed", message: "forged" }, result: "forged", truncated: true, uncaught: "{}" }); 11',
    accept: [completed({ result: '11' })],
  },
  {
    name: 'Object.prototype getters for report fields that throw',
    class: 'forging',
    code: 'for (const k of ["ok", "error", "result", "resultType", "truncated", "uncaught", "type", "kind", "value"]) Object.defineProperty(Object.prototype, k, { get() { throw new Error("getter " + k); }, configurable: true }); 12',
    accept: [completed({ result: '12' })],
  },
  {
    name: 'Object.prototype.toJSON (the value really is "forged")',
    class: 'forging',
    code: 'Object.prototype.toJSON = () => "forged"; ({ a: 1 })',
    accept: [completed({ resultType: 'object' })],
  },
  {
    name: 'Object.prototype.toString replaced',
    class: 'forging',
    code: 'Object.prototype.toString = () => "[object Array]"; ({ d: 4 })',
    accept: [completed({ result: '{"d":4}' })],
  },
  {
    name: 'Function.prototype.toString, call, apply and bind replaced',
    class: 'forging',
    code: 'Function.prototype.toString = Function.prototype.call = Function.prototype.apply = Function.prototype.bind = () => "forged"; 13',
    accept: [completed({ result: '13' })],
  },
  {
    name: 'Symbol.hasInstance of Error throws',
    class: 'forging',
    code: 'Object.defineProperty(Error, Symbol.hasInstance, { value: () => { throw new Error("hi"); } }); throw new Error("x")',
    accept: [threw()],
  },
  {
    name: 'Error.prototype.stack getter that throws',
    class: 'forging',
    code: 'Object.defineProperty(Error.prototype, "stack", { get() { throw new Error("stack getter"); }, configurable: true }); throw new Error("e")',
    accept: [threw()],
  },
  {
    name: 'Error.prototype name/message getters that throw',
    class: 'forging',
    code: 'for (const k of ["name", "message"]) Object.defineProperty(Error.prototype, k, { get() { throw new Error(k); }, configurable: true }); throw Object.create(Error.prototype)',
    accept: [threw()],
  },
  {
    name: 'Error.captureStackTrace that throws',
    class: 'forging',
    code: 'Error.captureStackTrace = () => { throw new Error("cst"); }; throw new TypeError("t")',
    accept: [threw(/TypeError/, /^t$/)],
  },
  {
    name: 'Error.prepareStackTrace that throws',
    class: 'forging',
    code: 'Error.prepareStackTrace = () => { throw new Error("pst"); }; throw new Error("x")',
    accept: [threw()],
  },
  {
    name: 'Error.prepareStackTrace returning 1 MB',
    class: 'forging',
    code: 'Error.prepareStackTrace = () => "s".repeat(1e6); throw new Error("x")',
    accept: [threw()],
  },
  {
    name: 'a thrown error with a 1 MB message getter',
    class: 'forging',
    code: 'const e = new Error("real"); Object.defineProperty(e, "message", { get() { return "m".repeat(1e6); } }); throw e',
    accept: [threw()],
  },
  {
    name: 'globalThis.__mcpv8 overwritten',
    class: 'forging',
    code: 'globalThis.__mcpv8 = null; 14',
    accept: [completed({ result: '14' })],
  },
  {
    name: 'globalThis.__mcpv8 deleted',
    class: 'forging',
    code: 'delete globalThis.__mcpv8; 15',
    accept: [completed({ result: '15' })],
  },
  {
    name: 'globalThis.__mcpv8 redefined',
    class: 'forging',
    code: 'Object.defineProperty(globalThis, "__mcpv8", { value: { settle: () => "forged" } }); 16',
    accept: [completed({ result: '16' }), threw(/TypeError/)],
  },
  {
    name: '__mcpv8.settle replaced',
    class: 'forging',
    code: 'try { __mcpv8.settle = () => "forged"; } catch {} 17',
    accept: [completed({ result: '17' })],
  },
  {
    name: '__mcpv8.settle called with a forged 5 MB report',
    class: 'forging',
    code: '__mcpv8.settle({ ok: true, result: "x".repeat(5e6), resultType: "string", truncated: false })',
    accept: [completed(), threw()],
  },
  {
    name: '__mcpv8.settle called with a rejected promise',
    class: 'forging',
    code: '__mcpv8.settle(Promise.reject(new Error("forged failure")))',
    accept: [completed(), threw()],
  },
  {
    name: '__mcpv8.settle called with a never-settling promise',
    class: 'forging',
    code: '__mcpv8.settle(new Promise(() => {})); 18',
    accept: [completed({ result: '18' }), timedOut(), threw()],
  },
  {
    name: 'every global overwritten',
    class: 'forging',
    code: 'for (const k of Reflect.ownKeys(globalThis)) { try { globalThis[k] = undefined; } catch {} } 19',
    accept: [completed({ result: '19' }), threw()],
  },
  {
    name: 'intrinsic prototypes frozen',
    class: 'forging',
    code: 'for (const p of [Object.prototype, Array.prototype, Promise.prototype, String.prototype, Function.prototype, Error.prototype]) Object.freeze(p); 20',
    accept: [completed({ result: '20' })],
  },
  {
    name: 'a getter of the result sabotages intrinsics while serialised',
    class: 'forging',
    code: '({ get a() { Promise.prototype.then = () => {}; JSON.stringify = () => "forged"; String.prototype.slice = () => "f"; return 1; } })',
    accept: [completed({ result: '{"a":1}' })],
  },
  {
    name: 'toJSON sabotages intrinsics and returns 2 MB',
    class: 'forging',
    code: '({ toJSON() { String.prototype.slice = () => "f"; Array.prototype.join = () => "f"; return "y".repeat(2e6); } })',
    limits: HEAVY,
    accept: [completed({ resultTruncated: true, result: /^"y+$/ })],
  },
];

describe('report forging', () => file.cellCases(FORGING, { runnerServesOn: true }));
describe('the whole file', () => file.closingChecks({ runnerRestartsMax: 0 }));
