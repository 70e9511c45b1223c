// WebAssembly in cells: inline modules with the sync and async APIs, and modules pre-loaded at
// start-up (--wasm-module / --wasm-config) exposed as globals.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionOutcome } from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';
import { loadWasmModules, parseWasmModuleSpecs } from '../../src/runner/wasm-modules.ts';

// (i32, i32) -> i32 "add", as in the seed README.
const ADD = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03,
  0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20,
  0x00, 0x20, 0x01, 0x6a, 0x0b,
];
// Imports env.f: (i32) -> i32 and exports "call" which forwards to it.
const CALLS_IMPORT = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x09,
  0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x66, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x08, 0x01, 0x04, 0x63,
  0x61, 0x6c, 0x6c, 0x00, 0x01, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10, 0x00, 0x0b,
];

let dir: string;
let pool: ChildRunnerPool;
let seq = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasm-test-'));
  writeFileSync(join(dir, 'math.wasm'), Buffer.from(ADD));
  writeFileSync(join(dir, 'calls.wasm'), Buffer.from(CALLS_IMPORT));
  writeFileSync(join(dir, 'wasm.json'), JSON.stringify({ calls: './calls.wasm' }));
  const specs = parseWasmModuleSpecs([`math=${join(dir, 'math.wasm')}`], join(dir, 'wasm.json'));
  pool = new ChildRunnerPool({
    runners: 1,
    runner: { wasmModules: Object.fromEntries(specs.map((s) => [s.name, s.path])) },
  });
  await pool.whenReady();
});
afterAll(async () => {
  await pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(code: string): Promise<ExecutionOutcome> {
  return pool.run(
    { executionId: `w${++seq}`, code, language: 'javascript', heapMb: 16, timeoutMs: 5000 },
    () => {},
    new AbortController().signal,
  );
}

const bytes = `new Uint8Array([${ADD.join(',')}])`;

describe('WebAssembly in cells', () => {
  it.each([
    ['the sync API', `new WebAssembly.Instance(new WebAssembly.Module(${bytes})).exports.add(21, 21)`],
    [
      'WebAssembly.instantiate(bytes)',
      `(await WebAssembly.instantiate(${bytes})).instance.exports.add(21, 21)`,
    ],
    [
      'WebAssembly.compile + instantiate(module)',
      `(await WebAssembly.instantiate(await WebAssembly.compile(${bytes}))).exports.add(21, 21)`,
    ],
  ])('runs a module through %s', async (_name, code) => {
    expect(await run(code)).toMatchObject({ status: 'completed', result: '42' });
  });

  it('exposes a pre-loaded module without imports as a global', async () => {
    expect(await run('math.add(2, 3) + math.add(100, 200)')).toMatchObject({ result: '305' });
  });

  it('exposes a pre-loaded module with imports only as __wasm_<name>', async () => {
    const outcome = await run(
      '[typeof calls, __wasm_calls instanceof WebAssembly.Module, new WebAssembly.Instance(__wasm_calls, { env: { f: (x) => x * 10 } }).exports.call(4)]',
    );
    expect(outcome).toMatchObject({ status: 'completed', result: '["undefined",true,40]' });
  });
});

describe('pre-loaded module configuration', () => {
  it('merges flags and the config file', () => {
    const specs = parseWasmModuleSpecs([`math=${join(dir, 'math.wasm')}`], join(dir, 'wasm.json'));
    expect(specs.map((s) => [s.name, s.path])).toEqual([
      ['math', join(dir, 'math.wasm')],
      ['calls', join(dir, 'calls.wasm')],
    ]);
  });

  it.each([
    ['a duplicate name', [`math=${'a.wasm'}`, 'math=b.wasm'], /"math" is defined more than once/],
    ['a flag without =', ['math'], /must be name=path/],
    ['a name that is not an identifier', ['my-mod=a.wasm'], /not a JavaScript identifier/],
    ['a reserved name', ['__x=a.wasm'], /may not start with __/],
  ])('rejects %s', (_name, flags, message) => {
    expect(() => parseWasmModuleSpecs(flags)).toThrow(message);
  });

  it('rejects a file that is not WebAssembly', () => {
    writeFileSync(join(dir, 'fake.wasm'), 'not wasm');
    expect(() => loadWasmModules([{ name: 'fake', path: join(dir, 'fake.wasm') }])).toThrow(
      /not a WebAssembly binary/,
    );
  });

  it('rejects a missing file', () => {
    expect(() => loadWasmModules([{ name: 'gone', path: join(dir, 'gone.wasm') }])).toThrow(/ENOENT/);
  });
});
