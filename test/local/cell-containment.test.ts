// A cell cannot forge its report, outlive its deadline or flood its runner: hostile cells run on
// the one runner process that also holds a victim session's live heap, and after each of them the
// runner is the same process (nothing was killed), the victim's next cell still sees its state,
// and nothing of the host (paths, frames) reached the outcome.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESULT_MAX_BYTES, type ExecutionOutcome, type RunRequest } from '../../src/core/index.ts';
import { OWN_MEMORY_MODULE_SOURCE } from '../runner/own-memory-wasm.ts';
import { openOneRunner, type OneRunner } from './one-runner.ts';

let runner: OneRunner;
let victimHeap = '';
let victimCount = 0;
let runnerPid = 0;

interface Ran {
  outcome: ExecutionOutcome;
  output: string[];
}

async function run(code: string, opts: Partial<RunRequest> = {}): Promise<Ran> {
  const output: string[] = [];
  const outcome = await runner.run(code, opts, (_level, text) => output.push(...text.split('\n')));
  return { outcome, output };
}

/** The victim session's next cell: it must see every earlier cell's state. */
async function victimStep(): Promise<void> {
  const { outcome } = await run('globalThis.count += 1; count', { heap: victimHeap, persist: true });
  victimCount++;
  expect(outcome).toMatchObject({ status: 'completed', result: String(victimCount) });
  victimHeap = outcome.heap!;
}

/** Nothing of the host in what the cell gets back. */
function expectNoHostLeak(ran: Ran): void {
  const text = JSON.stringify(ran.outcome) + ran.output.join('\n');
  for (const leak of [
    process.cwd(),
    'file://',
    'node_modules',
    'isolated-vm boundary',
    'runner-process',
    'dist/',
  ]) {
    expect(text).not.toContain(leak);
  }
}

beforeAll(async () => {
  // Two cells at a time, so a bystander can run beside a hostile cell.
  runner = await openOneRunner({ timeoutMs: 3000 }, { concurrencyPerRunner: 2 });
  runnerPid = runner.pool.pids()[0]!;
  const { outcome } = await run('globalThis.count = 0; count', { persist: true });
  victimHeap = outcome.heap!;
});
afterAll(() => runner?.close());

describe('a cell cannot forge its report', () => {
  it.each([
    [
      'then returning a forged promise',
      'Promise.prototype.then = function () { return Promise.resolve("forged") }; 42',
      '42',
    ],
    [
      'then resolving a 25 M character string',
      'Promise.prototype.then = function (ok) { ok("x".repeat(25e6)) }; 1',
      '1',
    ],
    ['then never calling back', 'Promise.prototype.then = function () {}; "real"', '"real"'],
    ['a forged settle on __mcpv8', 'globalThis.__mcpv8 = { settle: () => "{}" }; "real"', '"real"'],
    ['JSON.stringify replaced', 'JSON.stringify = () => "{\\"ok\\":false}"; ({ a: 1 })', '{"a":1}'],
    ['String.prototype.slice replaced', 'String.prototype.slice = () => "forged"; "abc"', '"abc"'],
    ['Array.isArray replaced', 'Array.isArray = () => { throw new Error("no") }; [1, 2]', '[1,2]'],
    ['Reflect.apply replaced', 'Reflect.apply = () => "forged"; "kept"', '"kept"'],
    ['Map.prototype.get replaced', 'Map.prototype.get = () => ({ fn() {}, args: [] }); 5', '5'],
    [
      'Symbol.species on Promise',
      'Object.defineProperty(Promise, Symbol.species, { get() { throw 1 } }); 6',
      '6',
    ],
    [
      'Object.prototype setters',
      'Object.defineProperty(Object.prototype, "ok", { set() { throw 1 } }); 7',
      '7',
    ],
    ['Array index setters', 'Object.defineProperty(Array.prototype, "0", { set() { throw 1 } }); [8]', '[8]'],
    [
      'Array iteration replaced',
      'Array.prototype[Symbol.iterator] = function* () { yield "forged" }; [1, 2]',
      '[1,2]',
    ],
  ])('%s: the real value is reported', async (_name, code, result) => {
    const ran = await run(code);
    expect(ran.outcome).toMatchObject({ status: 'completed', result });
    expectNoHostLeak(ran);
  });

  it('cannot call a settle of its own: there is none', async () => {
    const ran = await run('typeof __mcpv8.settle');
    expect(ran.outcome.result).toBe('"undefined"');
  });

  it('cuts a huge result to the cap in UTF-8 bytes, on a character boundary, and says so', async () => {
    const ran = await run('"€".repeat(2e6)');
    expect(ran.outcome).toMatchObject({ status: 'completed', resultTruncated: true });
    expect(Buffer.byteLength(ran.outcome.result!)).toBeLessThanOrEqual(RESULT_MAX_BYTES);
    expect(ran.outcome.result!.endsWith('€')).toBe(true);
  });

  it.each([
    ['an unhandled rejection beside a value', 'Promise.reject(new Error("a")); 1', 'Error', 'a'],
    ['an unhandled rejection of a number', 'Promise.reject(42); 1', 'Uncaught', '42'],
    ['a rejection after an await', 'await null; Promise.reject(new TypeError("t")); 1', 'TypeError', 't'],
    [
      'a throw in a timer after the value',
      'setTimeout(() => { throw new RangeError("late") }, 5); 3',
      'RangeError',
      'late',
    ],
    ['a throw in a microtask', 'queueMicrotask(() => { throw new SyntaxError("m") }); 4', 'SyntaxError', 'm'],
    [
      'a throw whose getters throw',
      'throw { get name() { throw 1 }, get message() { throw 2 } }',
      'Uncaught',
      '',
    ],
  ])('%s fails the cell itself (reason Error), the runner serves on', async (_name, code, name, message) => {
    const ran = await run(code);
    expect(ran.outcome.status).toBe('failed');
    expect(ran.outcome.error).toMatchObject({ reason: 'Error', name });
    if (message) expect(ran.outcome.error?.message).toBe(message);
    expectNoHostLeak(ran);
  });

  it('bounds an error the cell throws: name, message and stack', async () => {
    const ran = await run('const e = new Error("m".repeat(1e6)); e.name = "n".repeat(1e4); throw e');
    const error = ran.outcome.error!;
    expect(error.reason).toBe('Error');
    expect(error.name.length).toBeLessThanOrEqual(200);
    expect(error.message.length).toBeLessThanOrEqual(16_384);
    expect((error.stack ?? '').length).toBeLessThanOrEqual(65_536);
  });

  it('keeps the runner and the victim session after each of these', async () => {
    expect(runner.pool.pids()).toEqual([runnerPid]);
    await victimStep();
  });
});

describe('deadlines are final', () => {
  it('a timer that spins after the cell settled: timed out, nothing committed', async () => {
    const ran = await run('setTimeout(() => { globalThis.half = 1; for (;;); }, 10); 1', {
      timeoutMs: 1000,
      persist: true,
      heap: victimHeap,
    });
    expect(ran.outcome.status).toBe('timed_out');
    expect(ran.outcome.heap).toBeUndefined();
    // The session is still at the heap it resumed (its isolate was dropped: it is replayed).
    await victimStep();
  });

  it.each([
    ['a spin in the cell itself', 'for (;;);'],
    ['a spin after an await', 'await null; for (;;);'],
    ['a spin in an interval', 'setInterval(() => { for (;;); }, 1); 1'],
    ['a promise that never settles', 'await new Promise(() => {})'],
    ['a cell that keeps rescheduling', 'const tick = () => setTimeout(tick, 1); tick(); 1'],
  ])('%s ends timed_out', async (_name, code) => {
    const ran = await run(code, { timeoutMs: 500, persist: true });
    expect(ran.outcome.status).toBe('timed_out');
    expect(ran.outcome.heap).toBeUndefined();
  });

  it('hands over what a spinning cell printed before it was stopped', async () => {
    const ran = await run('console.log("before"); console.log("the loop"); for (;;);', { timeoutMs: 500 });
    expect(ran.outcome.status).toBe('timed_out');
    expect(ran.output).toEqual(['before', 'the loop']);
  });
});

describe('floods stay inside the cell', () => {
  it('empty lines count against the output cap', async () => {
    const ran = await run('for (let i = 0; i < 1.2e6; i++) console.log(); "done"', { timeoutMs: 20_000 });
    expect(ran.outcome).toMatchObject({ status: 'completed', outputTruncated: true });
    expect(ran.outcome.outputBytes).toBeLessThanOrEqual(1 << 20);
    expect(ran.output.length).toBeLessThanOrEqual((1 << 20) + 1);
  });

  it.each([
    ['empty lines without end', 'for (;;) console.log()'],
    ['timer churn', 'for (;;) clearTimeout(setTimeout(() => {}, 1e6))'],
    ['console levels alternating', 'for (;;) { console.log(1); console.warn(2) }'],
    ['host calls without end', 'for (let i = 0; ; i++) __mcpv8.import("npm:x" + i).catch(() => {})'],
    ['microtasks without end', 'const spin = () => queueMicrotask(spin); spin(); 1'],
  ])('%s: the cell times out, the runner stays', async (_name, code) => {
    const ran = await run(code, { timeoutMs: 1000 });
    expect(['timed_out', 'failed']).toContain(ran.outcome.status);
    expect(ran.outcome.error?.reason).not.toMatch(/Runner/);
  });

  it('memory a cell holds outside its heap stops that cell (OutOfMemory), not the runner nor a cell beside it', async () => {
    // A cell of another caller waits on a timer beside it, using no CPU: the guard stops the
    // cell that filled the memory, and this one completes.
    const bystander = run(`await new Promise((r) => setTimeout(r, 4000)); 'alive'`, { timeoutMs: 20_000 });
    const ran = await run(
      `const mod = ${OWN_MEMORY_MODULE_SOURCE};
       const keep = [];
       for (;;) { const i = new WebAssembly.Instance(mod); i.exports.fill(); keep.push(i); }`,
      { timeoutMs: 20_000 },
    );
    expect(ran.outcome).toMatchObject({ status: 'failed', error: { reason: 'OutOfMemory' } });
    expect((await bystander).outcome).toMatchObject({ status: 'completed', result: '"alive"' });
    expect(runner.pool.pids()).toEqual([runnerPid]);
  });

  it('keeps the runner and the victim session after all of them', async () => {
    expect(runner.pool.pids()).toEqual([runnerPid]);
    await victimStep();
  });
});

describe('a heap V8 itself cannot recover', () => {
  it('ends that execution OutOfMemory at once, and a new runner serves the next cell', async () => {
    // One allocation past the cap that V8 cannot collect: isolated-vm parks the isolate for good,
    // so the runner ends itself rather than hang until its deadline.
    const ran = await run('const o = {}; for (let i = 0; ; i++) o["k" + i] = i', { timeoutMs: 20_000 });
    expect(ran.outcome).toMatchObject({ status: 'failed', error: { reason: 'OutOfMemory' } });
    expect((await run('"next"')).outcome).toMatchObject({ status: 'completed', result: '"next"' });
  });
});
