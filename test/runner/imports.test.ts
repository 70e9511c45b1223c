// `import` in cells, end to end: a real runner process downloads modules from a local HTTP
// server standing in for the CDN (there is no internet here), links them in the isolate and
// hands the namespace to the cell.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionOutcome } from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';

const files: Record<string, { status?: number; type?: string; body?: string; location?: string }> = {
  '/case@1.0.0': {
    body: `import { words } from '/case@1.0.0/words.js';
export const version = '1.0.0';
export default function camelCase(s) { return words(s).map((w, i) => i ? w[0].toUpperCase() + w.slice(1) : w).join(''); }`,
  },
  '/case@1.0.0/words.js': { body: `export const words = (s) => s.split(/\\s+/).filter(Boolean);` },
  '/jsr/@luca/flag@1.0.0': { body: `export const flag = 'jsr';` },
  '/typed.ts': {
    type: 'application/typescript',
    body: `export interface P { x: number }\nexport function double(p: P): number { return p.x * 2 }`,
  },
  '/moved': { status: 302, location: '/case@1.0.0' },
  '/broken.js': { body: 'export const = 1;' },
  '/throws.js': { body: 'throw new Error("module init failed");' },
  // Issue 14: cycles used to hang the cell until its deadline.
  '/self.js': {
    body: `import * as me from './self.js'; export const n = 1; export const keys = () => Object.keys(me);`,
  },
  '/ping.js': { body: `import { pong } from './pong.js'; export const ping = () => 'ping' + pong();` },
  '/pong.js': {
    body: `import { ping } from './ping.js'; export const pong = () => 'pong'; export const back = () => typeof ping;`,
  },
  '/tdz-a.js': { body: `import { b } from './tdz-b.js'; export const a = b;` },
  '/tdz-b.js': { body: `import { a } from './tdz-a.js'; export const b = a;` },
};

let server: Server;
let pool: ChildRunnerPool;
let seq = 0;
let cdnBase = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const f = files[req.url ?? ''];
    if (!f) return res.writeHead(404).end('not found');
    res.writeHead(f.status ?? 200, {
      'content-type': f.type ?? 'application/javascript',
      ...(f.location && { location: f.location }),
    });
    res.end(f.body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cdnBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pool = new ChildRunnerPool({ runners: 1, runner: { cdnBase } });
  await pool.whenReady();
});
afterAll(async () => {
  await pool?.close();
  await new Promise((r) => server?.close(r));
});

function run(code: string, language: 'javascript' | 'typescript' = 'javascript'): Promise<ExecutionOutcome> {
  return pool.run(
    {
      executionId: `m${++seq}`,
      code: code.replaceAll('CDN', cdnBase),
      language,
      heapMb: 16,
      timeoutMs: 10_000,
    },
    () => {},
    new AbortController().signal,
  );
}

describe('imports', () => {
  it.each([
    [
      'a static npm: import with a relative dependency',
      'import camelCase, { version } from "npm:case@1.0.0";\ncamelCase("hello big world") + "@" + version',
      '"helloBigWorld@1.0.0"',
    ],
    ['a dynamic import()', 'const m = await import("npm:case@1.0.0"); m.version', '"1.0.0"'],
    [
      'a namespace import',
      'import * as ns from "npm:case@1.0.0"; Object.keys(ns).sort()',
      '["default","version"]',
    ],
    ['a jsr: import', 'import { flag } from "jsr:@luca/flag@1.0.0"; flag', '"jsr"'],
    ['a TypeScript module, type-stripped', 'import { double } from "CDN/typed.ts"; double({ x: 21 })', '42'],
    ['a module reached through a redirect', 'import { version } from "CDN/moved"; version', '"1.0.0"'],
    [
      'a module that imports itself',
      'import { n, keys } from "CDN/self.js"; [n, keys()]',
      '[1,["keys","n"]]',
    ],
    [
      'two modules that import each other',
      'import { ping } from "CDN/ping.js"; import { back } from "CDN/pong.js"; [ping(), back()]',
      '["pingpong","function"]',
    ],
  ])('%s', async (_name, code, result) => {
    const outcome = await run(code);
    expect(outcome).toMatchObject({ status: 'completed', result });
  });

  it('shows host errors without host details', async () => {
    const outcome = await run('import x from "npm:nope@1.0.0"');
    expect(outcome.error).toMatchObject({ reason: 'ModuleError', name: 'ModuleError' });
    expect(outcome.error?.stack ?? '').not.toMatch(/file:|\.ts:|node:internal/);
  });

  it.each([
    ['a missing module', 'import x from "npm:nope@1.0.0"', /nope@1\.0\.0.*404/],
    ['a module with a syntax error', 'import "CDN/broken.js"', /broken\.js/],
    ['a module that throws while evaluating', 'import "CDN/throws.js"', /module init failed/],
    [
      'a cycle reading a binding before it is initialised',
      'import "CDN/tdz-a.js"',
      /ReferenceError: Cannot access 'a' before initialization/,
    ],
    ['an invalid specifier', 'import "file:///etc/passwd"', /file:/],
  ])('fails clearly on %s', async (_name, code, message) => {
    const outcome = await run(code);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.message).toMatch(message);
  });
});
