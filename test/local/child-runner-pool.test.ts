// Behaviour of the local runner pool as a user of the product sees it: real runner child
// processes, real isolates, hostile code included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionOutcome, OutputLevel, RunRequest } from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';

let pool: ChildRunnerPool;
let seq = 0;

beforeAll(async () => {
  pool = new ChildRunnerPool({ runners: 2, maxRunnerRssBytes: 512 * 1024 * 1024 });
  await pool.whenReady();
});
afterAll(async () => {
  await pool?.close();
});

interface Ran {
  outcome: ExecutionOutcome;
  lines: Array<{ level: OutputLevel; text: string; at: number }>;
  ms: number;
}

async function run(code: string, opts: Partial<RunRequest> & { signal?: AbortSignal } = {}): Promise<Ran> {
  const lines: Ran['lines'] = [];
  const t0 = Date.now();
  const outcome = await pool.run(
    { executionId: `t${++seq}`, code, language: 'javascript', heapMb: 8, timeoutMs: 5000, ...opts },
    // Records reach the pool in batches of lines: the lines are what the output log keeps.
    (level, text) => {
      for (const line of text.split('\n')) lines.push({ level, text: line, at: Date.now() - t0 });
    },
    opts.signal ?? new AbortController().signal,
  );
  return { outcome, lines, ms: Date.now() - t0 };
}

describe('cells', () => {
  it.each([
    ['an arithmetic expression', '1 + 1', '2', 'number'],
    ['the seed example', 'var x = 1; x;', '1', 'number'],
    ['an awaited last expression', 'await Promise.resolve(41); Promise.resolve(42)', '42', 'number'],
    ['an object as JSON', '({ a: [1, "x"], b: null })', '{"a":[1,"x"],"b":null}', 'object'],
    ['a string as JSON', '"héllo"', '"héllo"', 'string'],
    ['an array', '[1, 2, 3].map((n) => n * 2)', '[2,4,6]', 'array'],
    ['a function as inspection text', 'function f() {}; f', '[Function: f]', 'function'],
    ['a bigint as inspection text', '10n ** 20n', '100000000000000000000n', 'bigint'],
  ])('%s → result', async (_name, code, result, resultType) => {
    const { outcome } = await run(code);
    expect(outcome).toMatchObject({ status: 'completed', result, resultType });
  });

  it('has no result when the last statement is not an expression', async () => {
    const { outcome } = await run('const y = 2;');
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toBeUndefined();
  });

  it('runs TypeScript by stripping its types', async () => {
    const { outcome } = await run('interface P { x: number }\nconst p: P = { x: 3 };\np.x as number * 2', {
      language: 'typescript',
    });
    expect(outcome).toMatchObject({ status: 'completed', result: '6' });
  });

  it('reports an uncaught error with a stack pointing into the cell', async () => {
    const { outcome } = await run('const a = 1;\n\nthrow new TypeError("boom " + a);');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ reason: 'Error', name: 'TypeError', message: 'boom 1' });
    expect(outcome.error?.stack).toMatch(/cell\.js:3:/);
    expect(outcome.error?.stack).not.toMatch(/prelude/);
  });

  it('reports a syntax error with its line', async () => {
    const { outcome } = await run('const ok = 1;\nconst = 2;');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ reason: 'SyntaxError', name: 'SyntaxError' });
    expect(outcome.error?.stack).toMatch(/cell\.js:2:/);
  });

  it('reports the effective heap cap: 4 MiB requested runs with 8', async () => {
    const { outcome } = await run('1', { heapMb: 4 });
    expect(outcome).toMatchObject({ status: 'completed', effectiveHeapMb: 8 });
  });
});

describe('console', () => {
  it('tags each line with its level and formats like Node', async () => {
    const { lines } = await run(
      'console.log("a %d %s", 1, "b", { c: [1, 2] }); console.info("i"); console.warn("w"); console.error(new Map([[1, 2]])); console.debug("d")',
    );
    expect(lines.map(({ level, text }) => ({ level, text }))).toEqual([
      { level: 'log', text: 'a 1 b { c: [ 1, 2 ] }' },
      { level: 'info', text: 'i' },
      { level: 'warn', text: 'w' },
      { level: 'error', text: 'Map(1) { 1 => 2 }' },
      { level: 'debug', text: 'd' },
    ]);
  });

  it('streams lines while the code still runs', async () => {
    const { lines, ms, outcome } = await run(
      'console.log("early"); await new Promise((r) => setTimeout(r, 400)); "done"',
    );
    expect(outcome.result).toBe('"done"');
    expect(lines[0]?.text).toBe('early');
    expect(lines[0]!.at).toBeLessThan(ms - 300);
  });

  it('bounds 10 MB of output and marks it truncated', async () => {
    const { outcome, lines } = await run(
      'const s = "x".repeat(1023); for (let i = 0; i < 10240; i++) console.log(s); 1',
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.outputTruncated).toBe(true);
    expect(outcome.outputBytes).toBeLessThanOrEqual(1 << 20);
    expect(lines.at(-1)?.text).toMatch(/output truncated/);
    expect(lines.length).toBeLessThan(1100);
  });
});

describe('timers', () => {
  it('fires timeouts in order and waits for pending timers before ending', async () => {
    const { lines, outcome } = await run(
      'setTimeout(() => console.log("b"), 300); setTimeout(() => console.log("a"), 150); queueMicrotask(() => console.log("m")); let n = 0; const i = setInterval(() => { if (++n === 3) { clearInterval(i); console.log("i3"); } }, 5); "sync"',
    );
    expect(outcome).toMatchObject({ status: 'completed', result: '"sync"' });
    expect(lines.map((l) => l.text)).toEqual(['m', 'i3', 'a', 'b']);
  });

  it('fails the execution when a timer callback throws', async () => {
    const { outcome } = await run('setTimeout(() => { throw new RangeError("late") }, 5); 1');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ name: 'RangeError', message: 'late' });
  });
});

describe('limits', () => {
  it('times out a busy loop at its deadline', async () => {
    const { outcome, ms } = await run('while (true) {}', { timeoutMs: 1000 });
    expect(outcome.status).toBe('timed_out');
    expect(outcome.error?.reason).toBe('Timeout');
    expect(ms).toBeLessThan(1200);
  });

  it('times out a busy loop that starts after awaiting a host timer', async () => {
    const { outcome, ms } = await run('await new Promise((r) => setTimeout(r, 20)); while (true) {}', {
      timeoutMs: 1000,
    });
    expect(outcome.status).toBe('timed_out');
    expect(ms).toBeLessThan(1200);
  });

  it('cancels a running execution within 50 ms', async () => {
    const abort = new AbortController();
    const started = run('console.log("go"); while (true) {}', { timeoutMs: 30_000, signal: abort.signal });
    await new Promise((r) => setTimeout(r, 300));
    const t = Date.now();
    abort.abort();
    const { outcome } = await started;
    expect(Date.now() - t).toBeLessThan(50);
    expect(outcome.status).toBe('cancelled');
  });

  it('ends an allocation bomb as OutOfMemory and keeps serving', async () => {
    const { outcome } = await run(
      'const a = []; while (true) a.push({ x: Math.random(), y: "z".repeat(64) });',
      {
        timeoutMs: 20_000,
      },
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.reason).toBe('OutOfMemory');
    expect((await run('2 + 2')).outcome.result).toBe('4');
  });

  it('survives new Array(1e8).fill(0)', async () => {
    // V8 may abort the runner, hang it, or stop the isolate: each must end in an outcome.
    const { outcome } = await run('new Array(1e8).fill(0).length', { timeoutMs: 3000 });
    expect(['failed', 'timed_out']).toContain(outcome.status);
    expect(['OutOfMemory', 'RunnerCrashed', 'Timeout']).toContain(outcome.error?.reason);
    expect((await run('3 + 3')).outcome.result).toBe('6');
  });

  it('refuses a WebAssembly memory grown towards 1 GiB and keeps serving', async () => {
    const { outcome } = await run(
      'const m = new WebAssembly.Memory({ initial: 1 }); let pages = 1; try { while (pages < 16384) { m.grow(256); pages += 256; } } catch (e) { console.log("stopped at", pages); throw e }',
      { timeoutMs: 20_000 },
    );
    expect(outcome.status).toBe('failed');
    expect((await run('4 + 4')).outcome.result).toBe('8');
  });
});

describe('runner crashes', () => {
  it('fails only the executions of a runner killed mid-run, within 2 s', async () => {
    await pool.whenReady();
    const slow = run('await new Promise((r) => setTimeout(r, 1500)); "survivor"');
    const victimId = `t${seq + 1}`;
    const victim = run('while (true) {}', { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 300));
    const target = pool.pidOf(victimId);
    expect(target).toBeDefined();
    const t = Date.now();
    process.kill(target!, 'SIGKILL');
    const v = await victim;
    expect(Date.now() - t).toBeLessThan(2000);
    expect(v.outcome.status).toBe('failed');
    expect(v.outcome.error?.reason).toBe('RunnerCrashed');
    expect((await slow).outcome.result).toBe('"survivor"');
    await pool.whenReady();
    expect((await run('5 + 5')).outcome.result).toBe('10');
  });
});

describe('runner memory cap', () => {
  // WebAssembly memory is outside the isolate heap cap: only process-level watches see it.
  const FILL_WASM =
    'const m = new WebAssembly.Memory({ initial: 4000 }); new Uint8Array(m.buffer).fill(1); await new Promise((r) => setTimeout(r, 3000)); 1';

  async function fillThenRun(pool: ChildRunnerPool): Promise<void> {
    await pool.whenReady();
    const outcome = await pool.run(
      { executionId: 'rss', code: FILL_WASM, language: 'javascript', heapMb: 8, timeoutMs: 10_000 },
      () => {},
      new AbortController().signal,
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.reason).toBe('OutOfMemory');
    await pool.whenReady();
    const next = await pool.run(
      { executionId: 'after', code: '7 * 6', language: 'javascript', heapMb: 8, timeoutMs: 5000 },
      () => {},
      new AbortController().signal,
    );
    expect(next.result).toBe('42');
  }

  it('kills a runner whose resident memory passes the cap and reports OutOfMemory', async () => {
    // The runner's own guard is off, so the supervisor's kill is the line that holds.
    const small = new ChildRunnerPool({
      runners: 1,
      maxRunnerRssBytes: 200 * 1024 * 1024,
      runner: { liveHeapRssBytes: 0 },
    });
    try {
      await fillThenRun(small);
      expect(small.stats().restarts).toBe(1);
    } finally {
      await small.close();
    }
  });

  it("stops the cell that fills memory inside the runner before the supervisor's line, and the runner serves on", async () => {
    // The supervisor's line is far away: the runner's guard (150 MiB) must act on its own.
    const pool = new ChildRunnerPool({
      runners: 1,
      maxRunnerRssBytes: 4 * 1024 * 1024 * 1024,
      runner: { liveHeapRssBytes: 150 * 1024 * 1024 },
    });
    try {
      await fillThenRun(pool);
      expect(pool.stats().restarts).toBe(0);
    } finally {
      await pool.close();
    }
  });
});

describe('isolation (hostile code)', () => {
  it.each([
    ['process via the constructor chain', 'this.constructor.constructor("return process")()'],
    ['require', 'require("fs")'],
    ['process', 'process.exit(1)'],
    ['the host through Function', 'Function("return this")().process.pid'],
    [
      'the host through an error stack',
      'try { null.x } catch (e) { e.constructor.constructor("return process")().env }',
    ],
  ])('cannot reach %s', async (_name, code) => {
    const { outcome } = await run(code);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.reason).toBe('Error');
  });

  it('sees no host globals', async () => {
    const { outcome } = await run(
      '[typeof process, typeof require, typeof Buffer, typeof global, typeof ivm, typeof __mcpv8.registerNamespace].join()',
    );
    expect(outcome.result).toBe('"undefined,undefined,undefined,undefined,undefined,undefined"');
  });

  it('keeps one stateless execution from seeing state of the previous one', async () => {
    await run(
      'Object.prototype.polluted = "yes"; Array.prototype.push = () => 0; globalThis.leak = 1; var v = 2;',
    );
    const { outcome } = await run('[({}).polluted, typeof leak, typeof v, [1].push(2)]');
    expect(outcome.result).toBe('[null,"undefined","undefined",2]');
  });

  it('cannot forge its outcome by replacing __mcpv8', async () => {
    const { outcome } = await run('globalThis.__mcpv8 = { settle: () => "{}" }; "real"');
    expect(outcome.result).toBe('"real"');
  });
});
