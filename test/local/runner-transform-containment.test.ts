// One execution's cell transform cannot harm others on the same runner (issue 14, class 3): a
// TypeScript cell that breaks Node's WebAssembly type stripper, or JavaScript nested deeper than
// any parser copes with, fails alone with a clear reason; every later cell on that runner, from
// any caller, transforms and runs, stateless or replayed from a heap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionOutcome, RunRequest } from '../../src/core/index.ts';
import { openOneRunner, type OneRunner } from './one-runner.ts';

// One runner: every cell below shares the process the hostile ones ran in.
let runner: OneRunner;
beforeAll(async () => {
  runner = await openOneRunner({ language: 'typescript' });
});
afterAll(() => runner?.close());

const run = (code: string, opts: Partial<RunRequest> = {}): Promise<ExecutionOutcome> =>
  runner.run(code, opts);

const deepGeneric = `let x: ${'Array<'.repeat(30_000)}number${'>'.repeat(30_000)} = [];\nx`;
const hostPaths = /\/work\/|\/home\/|node_modules|node:internal|runner-process|\.ts:\d+:\d+\)/;

describe('a cell transform that fails', () => {
  it('a 30,000-deep generic type fails alone, and every later TypeScript cell still runs', async () => {
    const pid = runner.pool.pids()[0];
    const bad = await run(deepGeneric);
    expect(bad.status).toBe('failed');
    expect(bad.error?.reason).toBe('SyntaxError');
    expect(bad.error?.message).toMatch(/^the transform of the cell failed: /);
    expect(`${bad.error?.message}\n${bad.error?.stack ?? ''}`).not.toMatch(hostPaths);
    // Later cells of any kind, on the same runner process: stateless, another heap cap, a session.
    const cell = 'interface P { n: number }\nconst p: P = { n: 20 };\np.n * 2 + 2';
    for (const opts of [{}, { heapMb: 8 }, { persist: true }]) {
      expect(await run(cell, opts)).toMatchObject({ status: 'completed', result: '42' });
    }
    expect(runner.pool.pids()).toEqual([pid]);
  });

  it('twice in a row, interleaved with good cells, never poisons the runner', async () => {
    for (let i = 0; i < 2; i++) {
      expect((await run(deepGeneric)).status).toBe('failed');
      expect(await run(`const v: number = ${i}; v`)).toMatchObject({
        status: 'completed',
        result: String(i),
      });
    }
  });

  it.each([
    ['[ nested 100,000 deep', '['.repeat(100_000)],
    ['( nested 200,000 deep', `${'('.repeat(200_000)}1${')'.repeat(200_000)}`],
    ['blocks nested 50,000 deep', `${'{'.repeat(50_000)}${'}'.repeat(50_000)}`],
  ])('JavaScript %s is a syntax error, not a crash', async (_name, code) => {
    const pid = runner.pool.pids()[0];
    const out = await run(code, { language: 'javascript' });
    expect(out.status).toBe('failed');
    expect(out.error?.reason).toBe('SyntaxError');
    expect(await run('[1, 2].length', { language: 'javascript' })).toMatchObject({
      status: 'completed',
      result: '2',
    });
    expect(runner.pool.pids()).toEqual([pid]);
  });

  it('a session of TypeScript cells still replays after the stripper broke on the runner', async () => {
    const first = await run('var total: number = 1;', { persist: true });
    expect(first.status).toBe('completed');
    expect((await run(deepGeneric)).status).toBe('failed');
    const old = runner.pool.pids();
    // Kill the runner so the next cell must replay the TypeScript chain in a fresh process,
    // and break the stripper there too before the replay.
    process.kill(old[0]!, 'SIGKILL');
    while (runner.pool.pids().some((p) => old.includes(p)) || runner.pool.stats().ready < 1) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await run(deepGeneric)).status).toBe('failed');
    const next = await run('total += 41 as number; total', { persist: true, heap: first.heap });
    expect(next).toMatchObject({ status: 'completed', result: '42' });
  });
});
