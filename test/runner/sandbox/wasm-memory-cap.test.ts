// Memory outside the V8 heap (WebAssembly memories, resizable and growable buffers) is capped per
// context, however it is created or grown from JavaScript, and the host's count of it cannot be
// steered by user code.
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionOutcome } from '../../../src/core/index.ts';
import { Sandbox } from '../../../src/runner/sandbox/sandbox.ts';
import { runCell } from '../run-cell.ts';

const PAGES = 100;
const PAGE = 65536;
let sandbox: Sandbox | undefined;
afterEach(() => {
  sandbox?.dispose();
  sandbox = undefined;
});

async function run(code: string): Promise<ExecutionOutcome> {
  sandbox ??= await Sandbox.create({
    heapMb: 16,
    maxOutputBytes: 1 << 20,
    maxResultBytes: 1 << 20,
    maxTimers: 100,
    maxWasmPages: PAGES,
  });
  return runCell(sandbox, code, { timeoutMs: 10_000 });
}

const capMessage = /may hold at most 100 pages/;

describe('memory outside the heap, per context', () => {
  it.each([
    [
      'two memories',
      'globalThis.a = new WebAssembly.Memory({ initial: 60 }); globalThis.b = new WebAssembly.Memory({ initial: 60 })',
    ],
    [
      'growing a memory',
      'globalThis.a = new WebAssembly.Memory({ initial: 60 }); globalThis.b = new WebAssembly.Memory({ initial: 30 }); a.grow(20)',
    ],
    [
      'the real constructor through the prototype',
      'globalThis.a = new WebAssembly.Memory({ initial: 60 }); globalThis.b = new (WebAssembly.Memory.prototype.constructor)({ initial: 60 })',
    ],
    [
      'a resizable buffer',
      `globalThis.a = new WebAssembly.Memory({ initial: 60 }); globalThis.b = new ArrayBuffer(${60 * PAGE}, { maxByteLength: ${90 * PAGE} })`,
    ],
    [
      'resizing a buffer',
      `globalThis.b = new ArrayBuffer(0, { maxByteLength: ${200 * PAGE} }); b.resize(${101 * PAGE})`,
    ],
    [
      'growing a shared buffer',
      `globalThis.b = new SharedArrayBuffer(0, { maxByteLength: ${200 * PAGE} }); b.grow(${101 * PAGE})`,
    ],
    [
      'transferring into a larger buffer',
      `globalThis.b = new ArrayBuffer(${60 * PAGE}, { maxByteLength: ${200 * PAGE} }).transfer(${120 * PAGE})`,
    ],
    [
      'a subclass of ArrayBuffer',
      `class Big extends ArrayBuffer {}; globalThis.b = new Big(${60 * PAGE}, { maxByteLength: ${200 * PAGE} }); globalThis.c = new Big(${60 * PAGE}, { maxByteLength: ${200 * PAGE} })`,
    ],
  ])('refuses %s past the cap', async (_name, code) => {
    const outcome = await run(code);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ name: 'RangeError', message: capMessage });
  });

  it('checks what V8 is given, not what a getter said first', async () => {
    const outcome = await run(`
      let reads = 0;
      const desc = { get initial() { return reads++ === 0 ? 1 : 1000; } };
      globalThis.m = new WebAssembly.Memory(desc);
      [reads, m.buffer.byteLength]`);
    expect(outcome).toMatchObject({ status: 'completed', result: `[1,${PAGE}]` });
  });

  it('counts what the context holds, whatever user code does to the intrinsics', async () => {
    const outcome = await run(`
      globalThis.m = new WebAssembly.Memory({ initial: 10 });
      globalThis.b = new ArrayBuffer(${5 * PAGE}, { maxByteLength: ${10 * PAGE} });
      WeakRef.prototype.deref = () => undefined;
      Map.prototype.forEach = () => {};
      Map.prototype.delete = () => true;
      Object.defineProperty(ArrayBuffer.prototype, 'byteLength', { get: () => 0 });
      Object.defineProperty(WebAssembly.Memory.prototype, 'buffer', { get: () => new ArrayBuffer(0) });
      1`);
    expect(outcome.status).toBe('completed');
    expect(sandbox!.offHeapBytes()).toBe(15 * PAGE);
  });

  it('keeps the constructors usable as before', async () => {
    const outcome = await run(`[
      new ArrayBuffer(8) instanceof ArrayBuffer,
      ArrayBuffer.prototype.constructor === ArrayBuffer,
      ArrayBuffer[Symbol.species] === ArrayBuffer,
      ArrayBuffer.isView(new Uint8Array(1)),
      new ArrayBuffer(4, { maxByteLength: 8 }).resizable,
      new ArrayBuffer(8).slice(2).byteLength,
      new (class X extends ArrayBuffer {})(3).byteLength,
      new WebAssembly.Memory({ initial: 1, maximum: 2 }).grow(1),
      Number(new WebAssembly.Memory({ initial: 1n, address: 'i64' }).grow(1n)),
      new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true }).buffer instanceof SharedArrayBuffer,
      (() => { try { WebAssembly.Memory({ initial: 1 }); } catch (e) { return e.name; } })(),
    ]`);
    expect(outcome).toMatchObject({
      status: 'completed',
      result: '[true,true,true,true,true,6,3,1,1,true,"TypeError"]',
    });
  });
});
