import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  CellSyntaxError,
  transformCell,
  type CellLanguage,
} from '../../../src/runner/cell/transform-cell.ts';

/** A fresh context standing in for an isolate, with a fake host import that records its calls. */
function session(): { ctx: vm.Context; imported: string[] } {
  const imported: string[] = [];
  const ctx = vm.createContext({
    __mcpv8: {
      import: async (s: string) => {
        imported.push(s);
        return { default: 'D:' + s, a: 1, c: 2 };
      },
    },
  });
  return { ctx, imported };
}

/** Transforms and evaluates one cell the way the runner does, resolving to the cell's result. */
async function run(ctx: vm.Context, source: string, language: CellLanguage = 'javascript'): Promise<unknown> {
  const { code } = transformCell(source, language);
  // Results come from another realm; a JSON round trip makes them comparable with toEqual.
  return plain(await (vm.runInContext(code, ctx, { filename: 'cell.js' }) as Promise<unknown>));
}

/** Runs cells one after another in one context (a REPL session); resolves to the last result. */
async function runCells(...sources: string[]): Promise<unknown> {
  const { ctx } = session();
  let result: unknown;
  for (const source of sources) result = await run(ctx, source);
  return result;
}

function plain(value: unknown): unknown {
  return value === undefined || typeof value === 'function' ? value : JSON.parse(JSON.stringify(value));
}

function syntaxError(source: string, language: CellLanguage = 'javascript'): CellSyntaxError {
  try {
    transformCell(source, language);
  } catch (err) {
    if (err instanceof CellSyntaxError) return err;
    throw err;
  }
  throw new Error('expected a CellSyntaxError');
}

describe('transformCell', () => {
  describe('result of a cell', () => {
    it.each([
      ['is the last expression', '1 + 1', 2],
      ['is a variable read after its declaration', 'var x = 1; x;', 1],
      ['awaits top-level await', 'await Promise.resolve(5)', 5],
      ['awaits a promise the last expression returns', 'Promise.resolve(3)', 3],
      ['is an object literal in parentheses', '({ a: 1 })', { a: 1 }],
      ['needs no trailing semicolon', 'const n = 40\nn + 2', 42],
      ['ignores a trailing line comment', '40 + 2 // the answer', 42],
      ['ignores a trailing block comment after the semicolon', '40 + 2; /* the answer */', 42],
      ['is the last value of a sequence', '1, 2', 2],
      ['skips trailing empty statements', '7;;\n;', 7],
      ['keeps the parentheses of the last expression', '(1) + (2)', 3],
      ['spans several lines', '[\n  1,\n  2,\n].map(\n  (v) => v * 2,\n)', [2, 4]],
      ['is undefined for an empty cell', '', undefined],
      ['is undefined for a cell of comments only', '// nothing\n/* here */', undefined],
      ['is undefined when the last statement declares', 'const q = 1;', undefined],
      ['is undefined when the last statement is a block statement', 'if (true) { 1 }', undefined],
      ['supports for await', 'let s = 0\nfor await (const v of [Promise.resolve(1), 2]) s += v\ns', 3],
      ['sees globalThis as top-level this', 'this === globalThis', true],
      ['is a dynamic import of the last expression', "import('dyn')", { default: 'D:dyn', a: 1, c: 2 }],
      ['skips a hashbang', '#!/usr/bin/env node\n42', 42],
      [
        'is not swallowed by a preceding line without semicolon (destructuring)',
        'globalThis.g = () => 5\nlet { a } = { a: 1 }\na',
        1,
      ],
      [
        'is not swallowed by a preceding line without semicolon (import)',
        "globalThis.g = () => 5\nimport { c } from 'm'\nc",
        2,
      ],
      ['is not a call of a class declaration', 'class K {}\n(1)', 1],
      [
        'keeps an if body intact when a var without initializer disappears',
        'var hit = 0\nif (false) var hit\nelse hit = 2\nhit',
        2,
      ],
    ])('%s', async (_name, source, expected) => {
      expect(await run(session().ctx, source)).toEqual(expected);
    });
  });

  describe('globals after a cell', () => {
    it.each([
      ['var', 'var x = 1;', { x: 1 }],
      ['let and const', 'let a = 1; const b = "two"', { a: 1, b: 'two' }],
      [
        'destructuring with nesting and rest',
        'let { a, b: [c], ...rest } = { a: 1, b: [2], d: 4 };',
        { a: 1, c: 2, rest: { d: 4 } },
      ],
      [
        'array destructuring with defaults and holes',
        'const [p = 5, , q] = [undefined, 0, 9]',
        { p: 5, q: 9 },
      ],
      ['several declarators', 'let a = 1,\n  b = 2', { a: 1, b: 2 }],
      [
        'var declarators with and without initializer',
        'var u, w = 3, v',
        { u: undefined, w: 3, v: undefined },
      ],
      ['let without initializer', 'let z', { z: undefined }],
      ['exported declaration with export stripped', 'export const e = 1', { e: 1 }],
      ['var in a top-level for loop', 'for (var i = 0; i < 3; i++) {}', { i: 3 }],
      ['var in a for-of head', 'for (var [k, v] of [[1, 2]]) ;', { k: 1, v: 2 }],
      ['var nested in blocks', 'if (true) { try { var deep = 1 } finally {} }', { deep: 1 }],
      ['imported bindings', "import x, { a as b, c } from 'npm:y@1'", { x: 'D:npm:y@1', b: 1, c: 2 }],
      [
        'namespace import with default',
        "import d, * as ns from 's'",
        { d: 'D:s', ns: { default: 'D:s', a: 1, c: 2 } },
      ],
      ['import of a string-named export', "import { 'a' as sa } from 'm'", { sa: 1 }],
    ])('%s', async (_name, source, expected) => {
      const { ctx } = session();
      await run(ctx, source);
      for (const [name, value] of Object.entries(expected)) expect(plain(ctx[name])).toEqual(value);
    });

    it('does not leak block-scoped declarations', async () => {
      const { ctx } = session();
      await run(
        ctx,
        '{ let hidden = 1 }\nfor (let j = 0; j < 1; j++) {}\nusing r = { [Symbol.dispose]() {} }',
      );
      expect(Object.keys(ctx)).not.toContain('hidden');
      expect(Object.keys(ctx)).not.toContain('j');
      expect(Object.keys(ctx)).not.toContain('r');
    });
  });

  describe('REPL semantics across cells', () => {
    it.each([
      ['a const is read by a later cell', ['const c = 1', 'c + 1'], 2],
      ['a const can be redeclared by a later cell', ['const c = 1', 'const c = 5', 'c'], 5],
      ['a function is callable from a later cell', ['function sq(n) { return n * n }', 'sq(4)'], 16],
      [
        'an async function is callable from a later cell',
        ['async function af() { return 2 }', 'await af()'],
        2,
      ],
      [
        'a generator is callable from a later cell',
        ['function* gen() { yield 1; yield 2 }', '[...gen()]'],
        [1, 2],
      ],
      [
        'a function is a global from the start of its cell',
        ['globalThis.seen = typeof globalThis.hoisted; function hoisted() {}', 'seen'],
        'function',
      ],
      [
        'a class instance keeps working in a later cell',
        ['class Counter { n = 0; inc() { return ++this.n } }', 'const k = new Counter(); k.inc(); k.inc()'],
        2,
      ],
      ['an instance is instanceof its class', ['class A {}', 'const a = new A()', 'a instanceof A'], true],
      ['var without initializer keeps the old value', ['var y = 1', 'var y; y'], 1],
      ['let without initializer resets to undefined', ['let z = 1', 'let z; z === undefined'], true],
      ['an import is usable in a later cell', ["import { a } from 'm'", 'a + 1'], 2],
      [
        'a using declaration is disposed at the end of its cell',
        ['using r = { [Symbol.dispose]() { globalThis.disposed = true } }', 'disposed'],
        true,
      ],
    ])('%s', async (_name, cells, expected) => {
      expect(await runCells(...cells)).toEqual(expected);
    });
  });

  describe('imports', () => {
    it.each([
      [
        'default and named',
        "import x, { a as b, c } from 'npm:y@1'\n[x, b, c]",
        ['D:npm:y@1', 1, 2],
        ['npm:y@1'],
      ],
      ['namespace', "import * as ns from 's'\nns.a", 1, ['s']],
      ['side effect only', "import 'side'", undefined, ['side']],
      ['dynamic with a literal', "(await import('dyn')).default", 'D:dyn', ['dyn']],
      [
        'dynamic with an expression',
        "const name = 'e';\n(await import('pre-' + name)).default",
        'D:pre-e',
        ['pre-e'],
      ],
      [
        'dynamic inside a function',
        "async function load() { return (await import('lazy')).c }\nawait load()",
        2,
        ['lazy'],
      ],
    ])('%s calls the host import', async (_name, source, expected, calls) => {
      const { ctx, imported } = session();
      expect(await run(ctx, source)).toEqual(expected);
      expect(imported).toEqual(calls);
    });

    it.each([
      ['static in source order', "import 'b'\nimport { a } from 'a'", ['b', 'a']],
      ['static and dynamic interleaved', "import 'a'\nawait import('b')\nimport 'c'", ['a', 'b', 'c']],
      ['deduplicated', "import { a } from 'x'\nimport { c } from 'x'\nawait import('x')", ['x']],
      ['template literal without substitutions', 'await import(`t`)', ['t']],
      ['not computed specifiers', "const n = 'x'\nawait import(n)\nawait import(`${n}`)", []],
      ['none', '1 + 1', []],
    ])('lists %s', (_name, source, expected) => {
      expect(transformCell(source, 'javascript').imports).toEqual(expected);
    });
  });

  it.each([
    [
      'every kind of declaration in order, once',
      "import d, { a as b } from 'm'\nvar x = 1, { y, z: [w] } = o\nlet x2\nfunction f() {}\nclass C {}\nvar x\nconst last = 0",
      ['d', 'b', 'x', 'y', 'w', 'x2', 'f', 'C', 'last'],
    ],
    [
      'nested vars but not block-scoped names',
      '{ var v; let l } for (let i of []) {} function g() { var inner }',
      ['v', 'g'],
    ],
    ['nothing for expressions', 'a = 1; b', []],
  ])('lists declarations: %s', (_name, source, expected) => {
    expect(transformCell(source, 'javascript').declarations).toEqual(expected);
  });

  describe('line numbers', () => {
    it.each([
      ['plain statements', "const a = 1;\nlet b = 2;\nthrow new Error('boom');", 3, 'javascript'],
      [
        'multi-line import and declarations before',
        "import {\n  a,\n  c,\n} from 'm';\nlet {\n  x,\n} = { x: 1 }, y = 2\nfunction thrower() {\n  throw new Error('boom');\n}\nthrower()",
        9,
        'javascript',
      ],
      ['a dropped var spanning lines', "var u,\n  v,\n  w\nthrow new Error('boom')", 4, 'javascript'],
      [
        'stripped TypeScript',
        "interface P {\n  x: number;\n}\nconst p: P = { x: 1 };\nthrow new Error('boom');",
        5,
        'typescript',
      ],
    ] as const)('are preserved across %s', async (_name, source, line, language) => {
      const { ctx } = session();
      const error = await run(ctx, source, language).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((error as Error).message).toBe('boom');
      expect((error as Error).stack).toContain(`cell.js:${line}:`);
    });
  });

  describe('TypeScript', () => {
    it.each([
      ['interfaces and annotations', 'interface P { x: number }\nconst p: P = { x: 1 }\np.x', 1],
      ['generics', 'function id<T>(v: T): T { return v }\nid<number>(4)', 4],
      ['as', "const s = ('hello' as unknown as string).length\ns", 5],
      ['satisfies', 'const cfg = { port: 80 } satisfies Record<string, number>\ncfg.port', 80],
      [
        'type aliases and type-only imports',
        "import type { T } from 'types'\ntype U = T\nconst u: U | number = 2\nu",
        2,
      ],
      [
        'an enum (transform mode)',
        'enum Color { Red, Green }\nconst g: Color = Color.Green;\n[g, Color[1]]',
        [1, 'Green'],
      ],
      ['a namespace (transform mode)', 'namespace M { export const k = 7 }\nM.k', 7],
    ])('strips %s', async (_name, source, expected) => {
      expect(await run(session().ctx, source, 'typescript')).toEqual(expected);
    });

    it('keeps type-only imports out of the import list', () => {
      expect(
        transformCell("import type { T } from 'types'\nimport { a } from 'm'", 'typescript').imports,
      ).toEqual(['m']);
    });

    it.each([
      ['strip mode', 'const a = 1;\nconst b = 2;\nconst c: = 3;', 3, 10],
      ['a tab before the error', 'const a = 1;\n\tconst c: = 3;', 2, 11],
      ['transform mode', 'enum E { A }\n\nlet x: = 1', 3, 8],
      ['the end of the input', 'const a = 1;\nconst b: number = (', 2, 20],
      ['CRLF line breaks', 'let a = 1;\r\nlet b: = 2', 2, 8],
    ])('reports a syntax error at its line in %s', (_name, source, line, column) => {
      const err = syntaxError(source, 'typescript');
      expect(err).toMatchObject({ name: 'SyntaxError', line, column });
      expect(err.message).toMatch(new RegExp(`\\(${line}:${column}\\)$`));
    });
  });

  describe('syntax errors', () => {
    it.each([
      ['an unexpected token', 'let x = ;', 1, 9, /^Unexpected token \(1:9\)$/],
      ['an error on a later line', 'const a = 1;\nfoo(;', 2, 5, /^Unexpected token/],
      ['a top-level return', 'return 1', 1, 1, /'return' outside of function/],
      ['import.meta', 'const u = import.meta.url', 1, 11, /^import\.meta is not available in a cell/],
      [
        'export default',
        'export default 1',
        1,
        1,
        /^export is not supported in a cell; declare the name instead/,
      ],
      ['export of a list', 'const a = 1\nexport { a }', 2, 1, /^export is not supported in a cell/],
      ['a re-export', "export * from 'm'", 1, 1, /^export is not supported in a cell/],
      ['a reserved name', 'let { __mcpv8_x } = {}', 1, 7, /^the name __mcpv8_x is reserved/],
      ['a reserved import name', "import __mcpv8 from 'm'", 1, 8, /is reserved/],
      [
        'import attributes',
        "import j from 'x.json' with { type: 'json' }",
        1,
        31,
        /^import attributes are not supported/,
      ],
      [
        'dynamic import options',
        "await import('x.json', { with: { type: 'json' } })",
        1,
        24,
        /^import attributes/,
      ],
      ['an HTML open comment', 'a <!--b', 1, 3, /^'<!--' is not allowed in a cell/],
      ['sloppy-only syntax (cells parse as modules)', 'with (o) {}', 1, 1, /'with' in strict mode/],
    ])('reports %s with its position', (_name, source, line, column, message) => {
      const err = syntaxError(source);
      expect(err).toBeInstanceOf(SyntaxError);
      expect(err).toMatchObject({ name: 'SyntaxError', line, column });
      expect(err.message).toMatch(message);
    });
  });

  it('produces the documented output shape', () => {
    const { code } = transformCell("function f() {}\nconst x = 1\nimport * as ns from 's'\nx", 'javascript');
    expect(code).toBe(
      'var f, x, ns; (async () => { globalThis.f = f; function f() {}\n' +
        'x = 1;\n' +
        'ns = await __mcpv8.import("s");\n' +
        'return (x);\n' +
        '})()',
    );
  });
});
