import { format, inspect } from 'node:util';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  createInspector,
  type Inspector,
  type InspectorOptions,
} from '../../../src/runner/sandbox/inspector.ts';

/**
 * A fresh realm with the inspector evaluated inside it from its source text, the way the runner
 * injects it into isolates: proves it is self-contained and needs no outer-realm constructors.
 */
function realm(options: InspectorOptions = {}): { inspector: Inspector; run: (source: string) => unknown } {
  const context = vm.createContext();
  const run = (source: string): unknown => vm.runInContext(source, context);
  const inspector = run(`(${createInspector.toString()})(${JSON.stringify(options)})`) as Inspector;
  return { inspector, run };
}

/** Arguments built inside a fresh realm, formatted by the inspector there and by Node here. */
function both(argsSource: string): { ours: string; node: string } {
  const { inspector, run } = realm();
  const args = run(`[${argsSource}]`) as unknown[];
  return { ours: inspector.format(args), node: format(...args) };
}

// [label, source of the argument list]: each must print exactly as util.format prints it.
const sameAsNode: [string, string][] = [
  ['plain string', `'hello'`],
  ['strings and numbers', `'a', 1, 'b', 2.5`],
  ['primitives', `undefined, null, true, false, 0, -0, NaN, Infinity, -Infinity, 1e21, 1n, -5n`],
  ['symbols', `Symbol('x'), Symbol(), Symbol.iterator, Symbol.for('reg')`],
  ['nested primitives', `[undefined, null, -0, 1n, Symbol('s'), 'str', true]`],
  [
    'strings needing quotes',
    `["it's", 'a"b' + "'c", 'a"b' + "'c\`", 'say "\${x}" it' + "'s", '\\x7f\\x85', '\\ud800x', '\\udc00', '😀', 'é', 'a\\u2028b']`,
  ],
  ['control characters', `[Array.from({ length: 0xa0 }, (_, i) => String.fromCharCode(i)).join('')]`],
  [
    'long string split on newlines',
    `{ a: 'line1\\nline2 and some more text here ok\\nline3 more more more more more more more' }`,
  ],
  ['long string ending in newline', `['x'.repeat(90) + '\\n', '\\n\\n' + 'y'.repeat(90)]`],
  ['long string without newline', `{ a: 'x'.repeat(100) }`],
  ['string over maxStringLength', `['x'.repeat(10005)]`],
  [
    'object keys',
    `{ a: 1, 'a-b': 2, __proto__x: 3, 'é': 4, 1: 5, '': 6, [Symbol('y')]: 7, [Symbol()]: 8, "it's": 9, 'a\\nb': 10 }`,
  ],
  ['__proto__ own key', `JSON.parse('{"__proto__": 1}')`],
  ['plain objects', `{}, { a: 1, b: 'x' }, { a: { b: { c: {} } } }, { a: { b: { c: { d: 1 } } } }`],
  ['nested beyond depth', `{ a: { b: { c: { d: 1 } } } }, { a: [{ b: [{ c: 1 }] }] }, [[[[1]]]], [[[[]]]]`],
  [
    'compact heuristic',
    `{ first: [1, 2, 3], next: { detail: { core: true } } }, { a: 1, b: { c: { d: 1 } }, e: 'xxxxxxxxxxxxxx' }`,
  ],
  [
    'breaks long objects',
    `{ alpha: 'aaaaaaaaaaaaaaaa', beta: 'bbbbbbbbbbbbbbbbbbbb', gamma: 'cccccccccccccccccc', delta: 1 }`,
  ],
  [
    'nested break',
    `{ a: { alpha: 'aaaaaaaaaaaaaaaa', beta: 'bbbbbbbbbbbbbbbbbbbb', gamma: 'cccccccccccccccccc', delta: 1 } }`,
  ],
  ['arrays', `[], [1, 2, 3], [[1, 2], [3]], ['a', ['b', ['c', ['d']]]]`],
  ['holes', `[new Array(5), [1, , 3], [, 1], [1, ,], new Array(3).concat([1])]`],
  ['holes beyond maxArrayLength', `(() => { const a = []; a[150] = 1; a[3] = 2; return a; })()`],
  [
    'sparse tail items',
    `(() => { const a = Array.from({ length: 120 }, (_, i) => i); delete a[50]; return a; })()`,
  ],
  [
    'array extra keys',
    `Object.assign([1, 2], { x: 1, [Symbol('s')]: 2 }), 'abc'.match(/b/), Object.assign([], { k: 1 })`,
  ],
  [
    'number grouping',
    `Array.from({ length: 30 }, (_, i) => i), Array.from({ length: 26 }, (_, i) => i * 1.5)`,
  ],
  ['string grouping', `Array.from({ length: 130 }, (_, i) => 's' + i)`],
  [
    'mixed grouping',
    `Array.from({ length: 10 }, (_, i) => ({ i })), Array.from({ length: 7 }, (_, i) => 'x'.repeat(i * 3))`,
  ],
  [
    'numbers not grouped',
    `[1.5, 22, 333, 4444, 55555, 666666, 7777777], [1n, 22n, 333n, 4444n, 55555n, 666666n, 7777777n]`,
  ],
  ['grouped with extra keys', `Object.assign(Array.from({ length: 20 }, (_, i) => i), { extra: true })`],
  ['more items', `Array.from({ length: 101 }, (_, i) => i), Array.from({ length: 250 }, () => 'ab')`],
  ['circular', `(() => { const o = { name: 'o' }; o.self = o; o.list = [o, { o }]; return o; })()`],
  [
    'circular twice',
    `(() => { const a = [1]; a.push(a); const b = {}; b.b = b; return { x: a, y: a, b }; })()`,
  ],
  [
    'circular in array and map',
    `(() => { const m = new Map(); m.set('m', m); const s = new Set(); s.add(s); return [m, s]; })()`,
  ],
  [
    'class instances',
    `new (class Foo { constructor() { this.a = 1; } })(), new (class {})(), new (class Bar extends Map {})()`,
  ],
  [
    'subclass of Array',
    `new (class Foo extends Array {})(3), (() => { class L extends Array {}; return L.from([1, 2]); })()`,
  ],
  ['inherited properties hidden', `Object.assign(Object.create({ inherited: 1 }), { own: 2 })`],
  [
    'null prototype',
    `Object.create(null), Object.assign(Object.create(null), { a: 1 }), Object.create(Object.create(null))`,
  ],
  [
    'null prototype collections',
    `Object.setPrototypeOf([1, 2], null), Object.setPrototypeOf(new Map([[1, 2]]), null), Object.setPrototypeOf(new Set([1]), null)`,
  ],
  [
    'toStringTag data',
    `{ [Symbol.toStringTag]: 'T' }, new (class Q { static { this.prototype[Symbol.toStringTag] = 'Tag'; } })(), Object.create({ [Symbol.toStringTag]: 'P' })`,
  ],
  [
    'Map and Set',
    `new Map(), new Set(), new Map([[1, { a: [1, { b: { c: 1 } }] }]]), new Set([[1, 2], { a: 1 }]), new Map([[{ a: 1 }, [1]]])`,
  ],
  [
    'big Map and Set',
    `new Map(Array.from({ length: 120 }, (_, i) => [i, i])), new Set(Array.from({ length: 120 }, (_, i) => i))`,
  ],
  ['Map with extra keys', `Object.assign(new Map([[1, 2]]), { extra: 1 })`],
  [
    'Date',
    `new Date(0), new Date(NaN), new Date(1700000000000), Object.assign(new Date(0), { y: 1 }), Object.assign(new Date(NaN), { z: 1 })`,
  ],
  ['RegExp', `/a/gi, /[/]\\\\d+/dmsuy, new RegExp('x', 'v'), Object.assign(/b/, { x: 1 }), RegExp.prototype`],
  [
    'functions',
    `function foo() {}, () => {}, async function f() {}, function* g() {}, async function* h() {}, async () => {}, Math.max, function () {}.bind(null)`,
  ],
  [
    'classes',
    `class X {}, class extends Array {}, class Y extends (class Z {}) {}, { class() {} }.class, { classy() {} }.classy`,
  ],
  [
    'functions with properties',
    `Object.assign(() => {}, { a: 1 }), Object.assign(function f() {}, { b: 2 }), Object.setPrototypeOf(function f() {}, null)`,
  ],
  [
    'function name not a string',
    `Object.defineProperty(function f() {}, 'name', { value: '' }), (() => { const f = function () {}; delete f.name; return f; })()`,
  ],
  [
    'boxed primitives',
    `Object(1), Object('ab'), Object(1n), Object(true), Object(Symbol('z')), Object(-0), Object.assign(Object('xy'), { k: 1 })`,
  ],
  ['boxed subclass', `new (class N extends Number {})(3), Object.setPrototypeOf(Object(2), null)`],
  ['getters and setters', `{ get a() { return 1; }, set b(v) {}, get c() { return 1; }, set c(v) {} }`],
  [
    'arguments',
    `(function () { return arguments; })(1, 'a'), (function () { 'use strict'; return arguments; })()`,
  ],
  [
    'typed arrays',
    `new Uint8Array(3), new Float64Array([1.5, -0]), new BigInt64Array([1n, -2n]), new Int16Array(0), new Uint8ClampedArray(120)`,
  ],
  ['typed array with keys', `Object.assign(new Uint8Array(2), { k: 1 })`],
  ['typed array grouping', `new Uint16Array(Array.from({ length: 40 }, (_, i) => i * 97))`],
  [
    'ArrayBuffer',
    `new ArrayBuffer(3), new Uint8Array([1, 2, 255]).buffer, new ArrayBuffer(0), new ArrayBuffer(130)`,
  ],
  ['detached ArrayBuffer', `(() => { const b = new ArrayBuffer(4); b.transfer(); return b; })()`],
  ['SharedArrayBuffer', `new SharedArrayBuffer(2)`],
  ['DataView', `new DataView(new ArrayBuffer(2)), new DataView(new ArrayBuffer(4), 1, 2)`],
  ['WeakMap and WeakSet', `new WeakMap(), new WeakSet(), new WeakRef({})`],
  ['iterators and generators', `[1, 2][Symbol.iterator](), (function* () {})(), 'ab'.matchAll(/a/g)`],
  ['built-in namespaces', `Math, JSON, Reflect, globalThis.Atomics`],
  ['errors', `new Error('boom'), new TypeError('bad type'), new RangeError(''), new Error('multi\\nline')`],
  ['error in object', `{ e: new RangeError('nested') }, [new Error('x')]`],
  [
    'error subclasses',
    `new (class MyErr extends Error {})('q'), new (class MyErr2 extends Error { name = 'MyErr2'; })('q'), new (class Weird extends Error { name = 'Other'; })('w')`,
  ],
  [
    'error name changes',
    `Object.defineProperty(new Error('x'), 'name', { value: 'CustomError' }), (() => { const e = new TypeError('t'); e.name = 'Foo'; return e; })(), Object.assign(new Error('m'), { name: 'Named' })`,
  ],
  [
    'error own props',
    `Object.assign(new Error('m'), { code: 5, detail: { a: 1 } }), Object.assign(new Error('m'), { message: 'other' })`,
  ],
  [
    'error cause',
    `new Error('outer', { cause: new Error('inner') }), new Error('c', { cause: 1 }), new Error('u', { cause: undefined })`,
  ],
  ['AggregateError', `new AggregateError([new Error('a'), 'b'], 'agg')`],
  [
    'error without stack',
    `(() => { const e = new Error('x'); e.stack = 'no frames'; return e; })(), (() => { const e = new Error('x'); delete e.stack; return e; })(), (() => { const e = new Error(''); delete e.stack; return e; })()`,
  ],
  ['error null prototype', `Object.setPrototypeOf(new Error('np'), null)`],
  [
    'deep recursion stack',
    `(() => { Error.stackTraceLimit = 50; function r(n) { return n === 0 ? new Error('deep') : r(n - 1); } const e = r(20); Error.stackTraceLimit = 10; return e; })()`,
  ],
  [
    'null-prototype exotics',
    `Object.setPrototypeOf(new Date(0), null), Object.setPrototypeOf(/x/g, null), Object.setPrototypeOf(Object(1), null), Object.setPrototypeOf(Object('s'), null), Object.setPrototypeOf(new Uint8Array(2), null)`,
  ],
  [
    'functions inside objects',
    `{ f: function () {}, c: class A {}, m() {}, a: async () => {}, b: function () {}.bind(null) }`,
  ],
  ['symbol descriptions are not escaped', `[Symbol('a\\nb'), Symbol("it's")], { [Symbol('k\\n')]: 1 }`],
  [
    'constructor own property',
    `{ constructor: function Foo() {} }, { constructor: 'x' }, Object.create(Array.prototype), Object.create(Map.prototype)`,
  ],
  ['iterable plain object', `{ [Symbol.iterator]() {}, a: 1 }, { [Symbol.iterator]: 1 }`],
  ['numeric-looking keys', `{ '01': 1, '1.5': 2, '-1': 3, 4294967295: 4, 10: 5, 2: 6 }`],
  [
    'function toStringTag',
    `Object.assign(function f() {}, { [Symbol.toStringTag]: 'T' }), Object.defineProperty(function g() {}, Symbol.toStringTag, { value: 'U' })`,
  ],
  ['undefined-filled arrays', `new Array(5).fill(), [undefined, , undefined]`],
  ['booleans grouped', `Array.from({ length: 26 }, (_, i) => i % 3 === 0)`],
  ['arrays of arrays grouped', `Array.from({ length: 10 }, (_, i) => [i, i + 1])`],
  ['mixed numbers and strings grouped', `Array.from({ length: 12 }, (_, i) => (i % 2 ? i : 'n' + i))`],
  [
    'multi-line strings in arrays',
    `Array.from({ length: 8 }, (_, i) => 'line\\n'.repeat(5) + 'x'.repeat(20) + i)`,
  ],
  [
    'map with object keys breaking',
    `new Map([[{ alpha: 'aaaaaaaaaaaaaaaa', beta: 'bbbbbbbbbbbbbbbbbb' }, { gamma: 'cccccccccccccccccccc', delta: [1, 2, 3] }]])`,
  ],
  [
    'deep mixed',
    `{ users: [{ id: 1, name: 'Ada', tags: ['x', 'y'], meta: { created: new Date(0), score: 1.5 } }, { id: 2, name: 'Bob', tags: [], meta: null }], total: 2n }`,
  ],
  ['arguments with extras', `(function () { arguments.extra = 1; return arguments; })(1)`],
  [
    'Float16Array',
    `typeof Float16Array === 'function' ? new Float16Array([1.5, 2]) : new Float32Array([1.5, 2])`,
  ],
  ['sparse with extra keys', `Object.assign([1, , 3], { k: 'v' }), Object.assign(new Array(3), { k: 'v' })`],
  ['format %s', `'%s|%s|%s|%s|%s|%s|%s', 1n, Symbol('q'), undefined, null, -0, 'str', 42`],
  ['format %s objects', `'%s %s %s %s', { a: { b: 1 } }, [1, [2, [3]]], new Date(0), new Error('e')`],
  ['format %s function', `'%s', function foo() { return 1; }`],
  [
    'format %d %i %f',
    `'%d %d %d %i %i %f %f %d %i %f', '42.5', 5, 1n, '42.9', '0x10', '1e3', 'x', Symbol(), 3n, -0`,
  ],
  ['format %d boxed and date', `'%d %d %i %f', Object(5), new Date(5), Object('12.5'), Object(2.5)`],
  [
    'format %j',
    `'%j %j %j %j', { a: [1, undefined, () => 1], b: undefined, d: new Date(0), n: NaN, s: 'q"' }, 'str', undefined, [Object(1), Object('s'), Object(false)]`,
  ],
  ['format %j circular', `'%j', (() => { const o = {}; o.o = o; return o; })()`],
  ['format %o', `'%o', [1, 2]`],
  ['format %o function', `'%o', function foo() {}`],
  ['format %o nested', `'%o', { f() {}, g: class {}, a: [1, { b: 2 }] }`],
  [
    'format %o non-enumerable',
    `'%o', Object.defineProperty({}, Symbol('h'), { value: 1, enumerable: false })`,
  ],
  ['format %o typed array', `'%o %o', new Uint8Array(2), new ArrayBuffer(2)`],
  ['format %o misc', `'%o %o %o %o %o', Object(1), Object('ab'), [1, , 3], new Date(0), /x/g`],
  ['format %O', `'%O', { a: { b: { c: { d: 1 } } } }`],
  ['format %c %% and unknown', `'%c%% %x %', 'color: red'`],
  ['format missing args', `'%s %d %j %%', 'only'`],
  ['format trailing percent', `'a%', 1`],
  ['format extra args', `'%s!', 'a', 'b', { c: 1 }, 2`],
  ['non-string first', `1, '%s', 'x'`],
  ['object then strings', `{ a: 1 }, 'b', "it's"`],
  ['multiple objects', `{ a: 1 }, [2], new Map([[3, 4]])`],
];

describe('createInspector: same output as util.format', () => {
  it.each(sameAsNode)('%s', (_label, source) => {
    const { ours, node } = both(source);
    expect(ours).toBe(node);
  });
});

// [label, inspector options, source of one value]: inspect() must match util.inspect with the same options.
const sameAsNodeInspect: [string, InspectorOptions, string][] = [
  ['top-level string is quoted', {}, `"it's"`],
  ['top-level primitives', {}, `[-0, 1n, Symbol('s')]`],
  ['depth 4', { depth: 4 }, `({ a: { b: { c: { d: { e: { f: 1 } } } } } })`],
  ['depth 0', { depth: 0 }, `({ a: { b: 1 }, c: [1], d: new Map([[1, 2]]), e: new (class Foo {})() })`],
  [
    'maxArrayLength 3',
    { maxArrayLength: 3 },
    `[Array.from({ length: 10 }, (_, i) => i), new Set([1, 2, 3, 4]), new Uint8Array(5)]`,
  ],
  ['maxArrayLength 0', { maxArrayLength: 0 }, `[[1, 2], new Map([[1, 2]]), new ArrayBuffer(2)]`],
  ['maxStringLength 5', { maxStringLength: 5 }, `({ a: 'x'.repeat(20), b: 'xy' })`],
  ['breakLength 10', { breakLength: 10 }, `({ a: 1, b: 2, c: [1, 2, 3] })`],
  ['breakLength 200', { breakLength: 200 }, `Array.from({ length: 30 }, (_, i) => ({ key: 'value' + i }))`],
];

describe('createInspector: inspect() with options, same output as util.inspect', () => {
  it.each(sameAsNodeInspect)('%s', (_label, options, source) => {
    const { inspector, run } = realm(options);
    const value = run(source);
    expect(inspector.inspect(value)).toBe(inspect(value, options));
  });
});

describe('createInspector: documented differences from Node', () => {
  const ours = (source: string, options?: InspectorOptions): string => {
    const { inspector, run } = realm(options);
    return inspector.format(run(`[${source}]`) as unknown[]);
  };

  it('cannot read promise state', () => {
    expect(
      ours(
        `Promise.resolve(1), new Promise(() => {}), (() => { const p = Promise.reject(new Error('x')); p.catch(() => {}); return Object.assign(p, { a: 1 }); })()`,
      ),
    ).toBe('Promise {} Promise {} Promise { a: 1 }');
  });

  it('cannot preview Map and Set iterators', () => {
    expect(ours(`new Map([[1, 2]]).entries(), new Set([1]).values()`)).toBe(
      '[Map Iterator] { <items unknown> } [Set Iterator] { <items unknown> }',
    );
  });

  it('sees proxies through their traps', () => {
    expect(ours(`new Proxy({ a: 1 }, {}), new Proxy([1, 2], {}), new Proxy(new Map([[1, 2]]), {})`)).toBe(
      '{ a: 1 } [ 1, 2 ] Map {}',
    );
    expect(ours(`(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()`)).toMatch(
      /^\[Inspection threw: .*revoked.*\]$/,
    );
  });

  it('does not run a Symbol.toStringTag getter', () => {
    expect(ours(`new (class Q { get [Symbol.toStringTag]() { return 'TT'; } })()`)).toBe('Q {}');
  });

  it('never runs toString, valueOf, toJSON or inspect methods for specifiers', () => {
    const source = `'%s|%d|%i|%f|%j', ...Array(5).fill({ toString() { return 's'; }, valueOf() { return 7; } })`;
    expect(ours(source)).toBe(
      '{ toString: [Function: toString], valueOf: [Function: valueOf] }|NaN|NaN|NaN|{}',
    );
    expect(ours(`'%j', { toJSON() { return 'json'; } }`)).toBe('{}');
    expect(ours(`'%d %j', [7], { a: 1, get b() { return 2; } }`)).toBe('NaN {"a":1}');
  });

  it('leaves out accessors inherited from class prototypes under %o', () => {
    expect(ours(`'%o', new (class Foo { a = 1; get g() { return 1; } })()`)).toBe('Foo { a: 1 }');
  });

  it('caps depth at 100', () => {
    const out = ours(`(() => { let o = {}; for (let i = 0; i < 200; i++) o = { o }; return o; })()`, {
      depth: 1000,
      breakLength: 1e9,
    });
    expect(out.match(/o: /g)).toHaveLength(101);
    expect(out).toContain('[Object]');
  });
});

describe('createInspector: hostile input', () => {
  /** Formats arguments built in a fresh realm; also returns the time taken. */
  const timed = (source: string, options?: InspectorOptions): { out: string; ms: number } => {
    const { inspector, run } = realm(options);
    const args = run(`[${source}]`) as unknown[];
    const start = performance.now();
    const out = inspector.format(args);
    return { out, ms: performance.now() - start };
  };

  it('shows a throwing proxy trap in place of the value and carries on', () => {
    const { inspector, run } = realm();
    const args = run(`
      const trap = () => { throw new Error('trap!'); };
      const p = new Proxy({}, { getPrototypeOf: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, get: trap, has: trap });
      const keysOnly = new Proxy({}, { ownKeys: trap });
      [p, { p, ok: 1 }, [p, 2], new Map([[p, keysOnly]]), Object.create(p)]
    `) as unknown[];
    expect(inspector.format(args)).toBe(
      '[Inspection threw: trap!] { p: [Inspection threw: trap!], ok: 1 } [ [Inspection threw: trap!], 2 ] ' +
        'Map(1) { [Inspection threw: trap!] => [Inspection threw: trap!] } [Inspection threw: trap!]',
    );
  });

  it('describes hostile thrown values without touching them', () => {
    const { out } = timed(`
      new Proxy({}, { getPrototypeOf() { throw new Proxy({}, { getOwnPropertyDescriptor() { throw 1; }, getPrototypeOf() { throw 1; } }); } }),
      new Proxy({}, { getPrototypeOf() { throw 'plain string'; } }),
      new Proxy({}, { getPrototypeOf() { throw Symbol('sym'); } }),
      new Proxy({}, { getPrototypeOf() { throw {}; } }),
      new Proxy({}, { getPrototypeOf() { throw new Error('m'.repeat(300)); } }),
      new Proxy({}, { getPrototypeOf() { throw Object.defineProperty(new Error(), 'message', { get() { return 'no'; } }); } })
    `);
    expect(out).toBe(
      '[Inspection threw: unknown error] [Inspection threw: plain string] [Inspection threw: Symbol(sym)] ' +
        `[Inspection threw: a non-Error value was thrown] [Inspection threw: ${'m'.repeat(200)}…] ` +
        '[Inspection threw: an error without a readable message]',
    );
  });

  it('skips constructor and Symbol.toStringTag getters that throw', () => {
    const { out } = timed(`
      { get constructor() { throw new Error('c'); } },
      (() => {
        class T {}
        Object.defineProperty(T.prototype, 'constructor', { get() { throw new Error('c'); } });
        Object.defineProperty(T.prototype, Symbol.toStringTag, { get() { throw new Error('t'); } });
        return new T();
      })(),
      new (class U { get [Symbol.toStringTag]() { throw new Error('t'); } })()
    `);
    expect(out).toBe('{ constructor: [Getter] } {} U {}');
  });

  it('never runs user getters, toString, valueOf, toPrimitive, toJSON or inspect methods', () => {
    const { inspector, run } = realm();
    const args = run(`
      globalThis.calls = [];
      const spy = (what) => function () { calls.push(what); throw new Error(what); };
      const evil = {
        get g() { return spy('own getter')(); },
        toString: spy('toString'),
        valueOf: spy('valueOf'),
        toJSON: spy('toJSON'),
        [Symbol.toPrimitive]: spy('toPrimitive'),
        [Symbol.for('nodejs.util.inspect.custom')]: spy('inspect'),
        get [Symbol.toStringTag]() { return spy('tag')(); },
      };
      class Evil { get p() { return spy('proto getter')(); } }
      Object.defineProperty(Evil, 'name', { get: spy('name getter') });
      Object.defineProperty(Evil.prototype, Symbol.toStringTag, { get: spy('proto tag') });
      const err = new Error('e');
      Object.defineProperty(err, 'message', { get: spy('message getter'), enumerable: true });
      Object.defineProperty(err, 'name', { get: spy('name getter'), enumerable: true });
      Object.defineProperty(err, 'stack', { get: spy('stack getter') });
      const arr = [1];
      Object.defineProperty(arr, 0, { get: spy('index getter') });
      const date = new Date(0);
      date.toISOString = spy('toISOString');
      const map = new Map([[1, 2]]);
      map.entries = spy('entries');
      map[Symbol.iterator] = spy('iterator');
      const fn = function f() {};
      Object.defineProperty(fn, 'name', { get: spy('fn name') });
      const all = [evil, new Evil(), err, arr, date, map, fn, Object.assign(Object(1), { valueOf: spy('boxed valueOf') })];
      ['%s %d %i %f %j %o %O %c', ...all, ...all, ...all]
    `) as unknown[];
    const out = inspector.format(args);
    expect(run('calls')).toEqual([]);
    expect(out).toContain('[Getter]');
    expect(inspector.inspect(run('({ get x() { calls.push("x"); return 1; } })'))).toBe('{ x: [Getter] }');
    expect(run('calls')).toEqual([]);
  });

  it('keeps working after user code replaces built-ins', () => {
    const { inspector, run } = realm();
    const value = run(`({
      a: [1, 'two', { three: new Map([[3, new Set([3])]]) }],
      d: new Date(0), r: /x/g, t: new Uint8Array(2), f: function f() {}, n: Object(1),
      big: Array.from({ length: 30 }, (_, i) => i), s: 'x'.repeat(100) + '\\n' + 'y', e: new RangeError('r'),
    })`);
    const before = inspector.format([value, '%s %d %j', 's', 1, { j: 1 }]);
    expect(before).toBe(format(value, '%s %d %j', 's', 1, { j: 1 }));
    run(`
      const broken = function () { throw new Error('tampered'); };
      const targets = [Object.prototype, Array.prototype, String.prototype, Number.prototype, Symbol.prototype,
        Function.prototype, Map.prototype, Set.prototype, RegExp.prototype, Date.prototype, Error.prototype,
        Object.getPrototypeOf(Uint8Array.prototype), Object.getPrototypeOf(new Map().entries()), Promise.prototype,
        Object, Array, String, Number, JSON, Math, Reflect, Error];
      const ownKeys = Reflect.ownKeys;
      const getDesc = Object.getOwnPropertyDescriptor;
      const define = Object.defineProperty;
      const plan = [];
      for (let t = 0; t < targets.length; t++) {
        const keys = ownKeys(targets[t]);
        for (let k = 0; k < keys.length; k++) plan.push([targets[t], keys[k], getDesc(targets[t], keys[k])]);
      }
      // Break everything at once: the loop itself must not need what it breaks.
      for (let i = 0; i < plan.length; i++) {
        const target = plan[i][0], key = plan[i][1], desc = plan[i][2];
        if (key === 'constructor' || key === 'prototype' || key === 'length' || !desc.configurable) continue;
        if (typeof desc.value === 'function') define(target, key, { value: broken });
        else if (desc.get) define(target, key, { get: broken });
      }
    `);
    expect(inspector.format([value, '%s %d %j', 's', 1, { j: 1 }])).toBe(before);
  });

  it('formats a 1e6-element array quickly, like Node', () => {
    const { out, ms } = timed(`Array.from({ length: 1e6 }, (_, i) => i)`);
    const { run } = realm();
    expect(out).toBe(format(run(`Array.from({ length: 1e6 }, (_, i) => i)`)));
    expect(out).toContain('... 999900 more items');
    expect(ms).toBeLessThan(1000);
  });

  it('formats huge sparse arrays quickly, like Node', () => {
    const sources = [
      `new Array(1e6)`,
      `(() => { const a = new Array(1e6); a[999999] = 1; a[5] = 2; return a; })()`,
      `(() => { const a = Array.from({ length: 1e6 }, (_, i) => i); delete a[1]; return a; })()`,
      `(() => { const a = []; for (let i = 0; i < 1e6; i += 2000) a[i] = i; return a; })()`,
    ];
    for (const source of sources) {
      const { out, ms } = timed(source);
      expect(out).toBe(format(realm().run(source)));
      expect(ms).toBeLessThan(1000);
    }
  });

  it('survives 1e6-deep nesting', () => {
    const { inspector, run } = realm();
    const capped = realm({ depth: 1e9 }).inspector;
    const [deep, deepArray] = run(`
      let o = {};
      for (let i = 0; i < 1e6; i++) o = { o };
      let a = [];
      for (let i = 0; i < 1e6; i++) a = [a];
      [o, a]
    `) as [unknown, unknown];
    const start = performance.now();
    expect(inspector.format([deep, deepArray])).toBe('{ o: { o: { o: [Object] } } } [ [ [ [Array] ] ] ]');
    const maxDepth = capped.format([deep, deepArray]);
    expect(maxDepth.length).toBeLessThan(70_000);
    expect(maxDepth.match(/o: /g)).toHaveLength(101);
    expect(inspector.format(['%j', deep])).toBe('[Inspection threw: JSON nesting exceeds 1000 levels]');
    expect(inspector.format(['%o', deep])).toBe(format('%o', deep));
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('cuts 10 MB strings at maxOutputLength with an exact count', () => {
    const big = `'x'.repeat(10 * 1024 * 1024)`;
    const size = 10 * 1024 * 1024;
    const top = timed(big);
    expect(top.out).toBe(`${'x'.repeat(65_536)}… [truncated ${size - 65_536} chars]`);
    expect(top.ms).toBeLessThan(1000);
    expect(timed(`'%s!', ${big}`).out).toBe(`${'x'.repeat(65_536)}… [truncated ${size + 1 - 65_536} chars]`);
    expect(timed(`${big}, 'tail'`).out).toBe(`${'x'.repeat(65_536)}… [truncated ${size + 5 - 65_536} chars]`);
    expect(timed(`${big}, {}`).out).toBe(`${'x'.repeat(65_536)}… [truncated]`);
    const nested = timed(`{ s: ${big} }`);
    expect(nested.out).toBe(`{\n  s: '${'x'.repeat(10_000)}'... ${size - 10_000} more characters\n}`);
    const boxed = timed(`Object(${big})`);
    expect(boxed.out).toBe(`[String: '${'x'.repeat(10_000)}'... ${size - 10_000} more characters]`);
    expect(boxed.ms).toBeLessThan(1000);
    const key = timed(`{ [${big}]: 1 }`);
    expect(key.out).toHaveLength(65_536 + '… [truncated]'.length);
    expect(key.ms).toBeLessThan(2000);
  });

  it('stops early on output that would be huge', () => {
    const wide = timed(`Array.from({ length: 1000 }, () => Array.from({ length: 1000 }, (_, i) => i))`, {
      maxArrayLength: 1e4,
    });
    expect(wide.out).toHaveLength(65_536 + '… [truncated]'.length);
    expect(wide.out.endsWith('… [truncated]')).toBe(true);
    expect(wide.ms).toBeLessThan(1000);
    const manyKeys = timed(`Object.fromEntries(Array.from({ length: 1e5 }, (_, i) => ['key' + i, { i }]))`);
    expect(manyKeys.out).toHaveLength(65_536 + '… [truncated]'.length);
    expect(manyKeys.ms).toBeLessThan(1000);
    const bigMap = timed(`new Map(Array.from({ length: 1e5 }, (_, i) => [i, 'v'.repeat(100)]))`, {
      maxArrayLength: 1e6,
    });
    expect(bigMap.out.endsWith('… [truncated]')).toBe(true);
    expect(bigMap.ms).toBeLessThan(1000);
    const json = timed(`'%j', Array.from({ length: 2e5 }, (_, i) => ({ i }))`);
    expect(json.out).toHaveLength(65_536 + '… [truncated]'.length);
    expect(json.ms).toBeLessThan(1000);
  });

  it('honours a small maxOutputLength without splitting surrogate pairs', () => {
    expect(timed(`'abcdefghijklmnopqrstuvwxyz'`, { maxOutputLength: 20 }).out).toBe(
      'abcdefghijklmnopqrst… [truncated 6 chars]',
    );
    expect(timed(`'abcdefghijklmnopqrs😀z'`, { maxOutputLength: 20 }).out).toBe(
      'abcdefghijklmnopqrs… [truncated 3 chars]',
    );
    expect(timed(`{ a: 'x'.repeat(30) }`, { maxOutputLength: 20 }).out).toBe(
      `{ a: '${'x'.repeat(14)}… [truncated]`,
    );
  });

  it('never throws, even when called at the edge of the stack', () => {
    const { run } = realm();
    run(`globalThis.insp = (${createInspector.toString()})();`);
    const out = run(`
      function deep() {
        try { return deep(); } catch { return insp.format([{ a: { b: [1, 2, new Map([[1, { c: 2 }]])] } }, new Error('e')]); }
      }
      deep();
    `);
    expect(typeof out).toBe('string');
  });

  it('never throws when Error.prepareStackTrace throws', () => {
    const { inspector, run } = realm();
    const err = run(`Error.prepareStackTrace = () => { throw new Error('pst'); }; new Error('boom')`);
    expect(inspector.format([err, { err }])).toMatch(/boom|Inspection threw/);
  });
});

describe('createInspector: source text', () => {
  it('is self-contained after the test transform (no injected helpers)', () => {
    const source = createInspector.toString();
    expect(source).not.toMatch(/__name|__vite|__vi_|_interop|require\(|import\(/);
    // An empty realm has no Node globals: evaluating and using it there proves nothing outside is needed.
    const context = vm.createContext(Object.create(null) as object);
    const inspector = vm.runInContext(`(${source})()`, context) as Inspector;
    expect(inspector.inspect(vm.runInContext('({ a: [1, new Map([[1, 2]])] })', context))).toBe(
      '{ a: [ 1, Map(1) { 1 => 2 } ] }',
    );
  });
});
