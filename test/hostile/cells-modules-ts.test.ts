// Module graphs (self and mutual imports, cycles, top-level await cycles, wide and deep graphs,
// hostile module answers, invalid specifiers), TypeScript that attacks the transform (30,000-deep
// generics, huge enums and unions, syntax errors) and JavaScript that attacks the parser. Legal
// cycles complete as in V8; a transform that fails fails its own cell and never poisons later
// cells (after each such case, normal TypeScript cells complete on every runner). Modules come
// from a local server (harness/module-server.ts) that is also the server's --cdn-base.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  HEAVY,
  completed,
  failed,
  oom,
  threw,
  timedOut,
  type CaseRun,
  type CellCase,
} from './harness/cell-cases.ts';
import { ModuleServer } from './harness/module-server.ts';
import { describeEnd } from './harness/rest-calls.ts';
import { useHostileServer } from './harness/suite.ts';

const mods = new ModuleServer();
beforeAll(() => mods.start());
afterAll(() => mods.stop());
const file = useHostileServer({ args: () => ['--cdn-base', mods.url] });
const rewrite = (code: string) => code.replaceAll('MODS', mods.url);

const moduleError = failed('ModuleError');

const MODULES: CellCase[] = [
  {
    name: 'a module that imports itself',
    class: 'module',
    code: 'import { b } from "MODS/self.js"; b()',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'two modules importing each other',
    class: 'module',
    code: 'import { both } from "MODS/a.js"; import { viaA } from "MODS/b.js"; [both(), viaA()]',
    accept: [completed({ result: '["ab","a"]' })],
  },
  {
    name: 'a three-module cycle',
    class: 'module',
    code: 'const { t1 } = await import("MODS/t1.js"); t1()',
    accept: [completed({ result: '"t1>t2>t3>function"' })],
  },
  {
    name: 'a cycle with top-level await',
    class: 'module',
    code: 'import { b } from "MODS/tla-b.js"; import { a } from "MODS/tla-a.js"; [a, b()]',
    accept: [completed({ result: '[1,1]' })],
  },
  {
    name: 'a cycle of export * re-exports',
    class: 'module',
    code: 'import * as ns from "MODS/star-a.js"; [ns.fromA, ns.fromB]',
    accept: [completed({ result: '[1,2]' })],
  },
  {
    name: 'a cycle reading a binding in its TDZ fails the cell',
    class: 'module',
    code: 'import { a } from "MODS/tdz-a.js"; a',
    accept: [threw(/ReferenceError/), moduleError],
  },
  {
    name: 'a module awaiting its own dynamic import',
    class: 'module',
    code: 'const m = await import("MODS/dyn-self.js"); m.x',
    accept: [timedOut(), completed(), moduleError],
  },
  {
    name: 'a module that throws while evaluating',
    class: 'module',
    code: 'await import("MODS/throws.js")',
    accept: [threw(undefined, /module init failed/), moduleError],
  },
  {
    name: 'a module that spins while evaluating',
    class: 'module',
    code: 'await import("MODS/spin.js")',
    accept: [timedOut()],
  },
  {
    name: 'a module importing 1000 modules',
    class: 'module',
    code: 'import { n } from "MODS/wide.js"; n',
    limits: HEAVY,
    accept: [completed({ result: '1000' }), moduleError],
  },
  {
    name: 'a chain of 300 modules',
    class: 'module',
    code: 'import { top } from "MODS/chain-0.js"; top',
    limits: HEAVY,
    accept: [completed({ result: '299' }), moduleError],
  },
  {
    name: 'a module sees no host',
    class: 'module',
    code: 'import { where } from "MODS/leak-probe.js"; where',
    accept: [completed()],
  },
  { name: 'a redirect loop', class: 'module', code: 'await import("MODS/loop")', accept: [moduleError] },
  { name: 'a 20 MB module', class: 'module', code: 'await import("MODS/huge.js")', accept: [moduleError] },
  {
    name: 'a module server that never answers',
    class: 'module',
    code: 'await import("MODS/slow.js")',
    accept: [timedOut(), moduleError],
  },
  {
    name: 'a module body without end',
    class: 'module',
    code: 'await import("MODS/endless.js")',
    accept: [moduleError, timedOut()],
  },
  {
    name: 'a module served as image/png',
    class: 'module',
    code: 'await import("MODS/png.js")',
    accept: [moduleError, threw(/SyntaxError/), failed('SyntaxError')],
  },
  {
    name: 'a missing module',
    class: 'module',
    code: 'await import("MODS/missing.js")',
    accept: [moduleError],
  },
  {
    name: 'a bare specifier through the CDN (404)',
    class: 'module',
    code: 'await import("fs")',
    accept: [moduleError],
  },
  {
    name: 'an npm: specifier through the CDN (404)',
    class: 'module',
    code: 'import x from "npm:left-pad@1.3.0"; x',
    accept: [moduleError],
  },
  ...[
    '',
    '   ',
    'npm:',
    'npm:../../etc/passwd',
    'jsr:bad',
    '/etc/passwd',
    '../../../etc/passwd',
    'http://user:pass@127.0.0.1/x.js',
    'x'.repeat(5000),
    'javascript:alert(1)',
    'blob:null/abc',
    'data:text/javascript,export default 1',
    'https://[::1',
    'node:fs',
    'file:///etc/passwd',
    '\u0000',
  ].map((spec): CellCase => ({
    name: `invalid specifier ${JSON.stringify(spec.length > 40 ? spec.slice(0, 20) + `…(${spec.length})` : spec)}`,
    class: 'module',
    code: `await import(${JSON.stringify(spec)})`,
    accept: [moduleError],
  })),
];

/** After a transform attack: plain TypeScript cells still complete, on every runner. */
async function typescriptStillWorks(_v: unknown, ctx: CaseRun): Promise<void> {
  const runs = await Promise.all(
    Array.from({ length: 6 }, () => ctx.run({ code: 'const a: number = 1; a', language: 'typescript' })),
  );
  for (const r of runs) expect(`${r.status} ${r.result}`, describeEnd(r)).toBe('completed 1');
}

const deep = (open: string, inner: string, close: string, n: number) =>
  open.repeat(n) + inner + close.repeat(n);
const transformFailed = [oom, failed('SyntaxError')];

const TYPESCRIPT: CellCase[] = [
  {
    name: 'a 30,000-deep generic',
    class: 'typescript',
    language: 'typescript',
    code: `let x: ${deep('Array<', 'number', '>', 30000)} = []; 1`,
    limits: HEAVY,
    accept: transformFailed,
    check: typescriptStillWorks,
  },
  {
    name: 'a 30,000-deep generic in a signature',
    class: 'typescript',
    language: 'typescript',
    code: `function f<T>(x: ${deep('Promise<', 'T', '>', 30000)}): void {} 2`,
    limits: HEAVY,
    accept: transformFailed,
    check: typescriptStillWorks,
  },
  {
    name: 'a 20,000-deep object type',
    class: 'typescript',
    language: 'typescript',
    code: `type T = ${deep('{ a: ', 'number', ' }', 20000)}; 3`,
    limits: HEAVY,
    accept: transformFailed,
    check: typescriptStillWorks,
  },
  {
    name: '30,000 nested angle-bracket casts',
    class: 'typescript',
    language: 'typescript',
    code: `${'<any>'.repeat(30000)}4`,
    limits: HEAVY,
    accept: [...transformFailed, completed({ result: '4' })],
    check: typescriptStillWorks,
  },
  {
    name: '50,000 chained as-casts',
    class: 'typescript',
    language: 'typescript',
    code: `(5${' as any'.repeat(50000)})`,
    limits: HEAVY,
    accept: [...transformFailed, completed({ result: '5' })],
    check: typescriptStillWorks,
  },
  {
    name: 'a 50,000-member union',
    class: 'typescript',
    language: 'typescript',
    code: `type U = ${Array.from({ length: 50000 }, (_, i) => `"v${i}"`).join(' | ')}; 6`,
    limits: HEAVY,
    accept: [completed({ result: '6' }), ...transformFailed],
    check: typescriptStillWorks,
  },
  {
    name: 'a 50,000-member enum',
    class: 'typescript',
    language: 'typescript',
    code: `enum E { ${Array.from({ length: 50000 }, (_, i) => `A${i}`).join(', ')} } E.A49999`,
    limits: HEAVY,
    accept: [completed({ result: '49999' }), failed('SyntaxError')],
    check: typescriptStillWorks,
  },
  {
    name: '40,000 type aliases',
    class: 'typescript',
    language: 'typescript',
    code: `${Array.from({ length: 4e4 }, (_, i) => `type T${i} = number;`).join('\n')}\n7`,
    limits: HEAVY,
    accept: [completed({ result: '7' }), ...transformFailed],
  },
  {
    name: 'TS syntax error: missing type',
    class: 'syntax',
    language: 'typescript',
    code: 'const a: = 1',
    accept: [failed('SyntaxError')],
  },
  {
    name: 'TS syntax error: bad parameter',
    class: 'syntax',
    language: 'typescript',
    code: 'function f(: number) {}',
    accept: [failed('SyntaxError')],
  },
  {
    name: 'TS syntax error: nameless interface',
    class: 'syntax',
    language: 'typescript',
    code: 'interface { a: number }',
    accept: [failed('SyntaxError')],
  },
  {
    name: 'TS value namespace',
    class: 'typescript',
    language: 'typescript',
    code: 'namespace N { export const a = 1; } N.a',
    accept: [completed({ result: '1' }), failed('SyntaxError')],
  },
  {
    name: 'TS decorators',
    class: 'typescript',
    language: 'typescript',
    code: 'function d(c: any) { return c; } @d class A {} typeof A',
    accept: [completed({ result: '"function"' }), failed('SyntaxError')],
  },
];

const SYNTAX: CellCase[] = [
  {
    name: '100,000 nested parentheses',
    class: 'syntax',
    code: deep('(', '1', ')', 1e5),
    accept: [failed('SyntaxError'), threw(/RangeError/), completed({ result: '1' })],
  },
  {
    name: '100,000 nested blocks',
    class: 'syntax',
    code: deep('{', '', '}', 1e5) + ' 1',
    accept: [failed('SyntaxError'), threw(/RangeError/), completed({ result: '1' })],
  },
  {
    name: '100,000 nested array literals',
    class: 'syntax',
    code: deep('[', '', ']', 1e5),
    accept: [failed('SyntaxError'), threw(/RangeError/), completed()],
  },
  {
    name: '100,000 nested arrow functions',
    class: 'syntax',
    code: deep('() => ', '1', '', 1e5),
    accept: [failed('SyntaxError'), threw(/RangeError/), completed()],
  },
  {
    name: 'an unterminated template literal',
    class: 'syntax',
    code: '`abc ${1 + ',
    accept: [failed('SyntaxError')],
  },
  {
    name: '40,000 top-level declarations',
    class: 'syntax',
    code: `${Array.from({ length: 4e4 }, (_, i) => `let v${i} = ${i};`).join('\n')}\nv39999`,
    limits: HEAVY,
    accept: [completed({ result: '39999' }), oom, timedOut()],
  },
  {
    name: 'a cell of nearly 1 MiB on one line',
    class: 'syntax',
    code: `"${'q'.repeat((1 << 20) - 16)}".length`,
    limits: HEAVY,
    accept: [completed({ result: String((1 << 20) - 16) })],
  },
  {
    name: 'import.meta in a cell',
    class: 'syntax',
    code: 'import.meta',
    accept: [failed('SyntaxError'), completed()],
  },
  {
    name: 'export in a cell',
    class: 'syntax',
    code: 'export const a = 1; a',
    accept: [failed('SyntaxError'), completed({ result: '1' })],
  },
  {
    name: 'NUL, BOM and line separators',
    class: 'syntax',
    code: '\uFEFF"a\u2028b\u2029c\u0000d".length',
    accept: [completed({ result: '7' })],
  },
  {
    name: 'only a comment',
    class: 'syntax',
    code: '// nothing here',
    accept: [completed({ resultType: 'undefined' })],
  },
  {
    name: 'a cell that closes the wrapper it is put in',
    class: 'syntax',
    code: '1 })(); (() => { return 2',
    accept: [failed('SyntaxError'), completed({ result: '1' })],
  },
  {
    name: 'a cell that ends inside a comment',
    class: 'syntax',
    code: '1 /*',
    accept: [failed('SyntaxError')],
  },
  {
    name: 'a cell that ends with a line comment holding a wrapper close',
    class: 'syntax',
    code: '2 // })',
    accept: [completed({ result: '2' })],
  },
];

describe.concurrent('module graphs', () => file.cellCases(MODULES, { rewrite }));
describe.concurrent('TypeScript', () => file.cellCases(TYPESCRIPT));
describe.concurrent('parser', () => file.cellCases(SYNTAX));
describe('the whole file', () => file.closingChecks());
