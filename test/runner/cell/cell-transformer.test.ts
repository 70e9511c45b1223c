// Cell transforms within bounds: a transform that breaks the TypeScript stripper, exhausts its
// worker's heap or runs past its time fails that cell alone, with a clear reason, and the next
// cell transforms normally; deep nesting is a syntax error, never a crash.
import { afterAll, describe, expect, it } from 'vitest';
import {
  CellTransformError,
  CellTransformer,
  INLINE_MAX_CHARS,
  transformFailureOutcome,
} from '../../../src/runner/cell/cell-transformer.ts';
import { CellSyntaxError, type CellLanguage } from '../../../src/runner/cell/transform-cell.ts';

/** `let x: Array<Array<…number…>>`, `depth` deep: traps Node's WebAssembly TypeScript stripper. */
const deepGeneric = (depth: number) => `let x: ${'Array<'.repeat(depth)}number${'>'.repeat(depth)} = [];\nx`;

const transformer = new CellTransformer();
afterAll(() => transformer.close());

const far = () => ({ deadline: Date.now() + 60_000 });

async function failure(
  t: CellTransformer,
  source: string,
  language: CellLanguage,
  opts: { deadline: number; signal?: AbortSignal } = far(),
): Promise<unknown> {
  try {
    await t.transform(source, language, opts);
  } catch (err) {
    return err;
  }
  throw new Error('expected the transform to fail');
}

describe('CellTransformer', () => {
  it('transforms JavaScript and TypeScript cells', async () => {
    expect((await transformer.transform('1 + 1', 'javascript', far())).code).toContain('return (1 + 1)');
    const ts = await transformer.transform('const n: number = 41;\nn + 1', 'typescript', far());
    expect(ts.code).toContain('return (n + 1)');
    expect(ts.declarations).toEqual(['n']);
  });

  it('fails a 30,000-deep generic type alone: later TypeScript cells still transform', async () => {
    const err = await failure(transformer, deepGeneric(30_000), 'typescript');
    expect(err).toBeInstanceOf(CellTransformError);
    expect((err as Error).message).toMatch(/^the transform of the cell failed: /);
    expect((err as Error).message).not.toMatch(/\/work|node:internal|\bat /);
    for (let i = 0; i < 3; i++) {
      const ok = await transformer.transform(
        `type T = { a: number };\nconst v: T = { a: ${i} };\nv.a`,
        'typescript',
        far(),
      );
      expect(ok.code).toContain('return (v.a)');
    }
    // Again, right away: the broken worker is never handed out.
    await failure(transformer, deepGeneric(30_000), 'typescript');
    expect((await transformer.transform('let s: string = "x"; s', 'typescript', far())).declarations).toEqual(
      ['s'],
    );
  });

  it('reports a TypeScript syntax error at its position, and keeps going', async () => {
    const err = await failure(transformer, 'let a: number = 1;\nlet b: = 2;', 'typescript');
    expect(err).toBeInstanceOf(CellSyntaxError);
    expect((err as CellSyntaxError).line).toBe(2);
    expect((await transformer.transform('let c: number = 3; c', 'typescript', far())).declarations).toEqual([
      'c',
    ]);
  });

  it.each([
    ['[ 100,000 deep', '['.repeat(100_000)],
    ['( 100,000 deep', `${'('.repeat(100_000)}1${')'.repeat(100_000)}`],
    ['{ blocks 50,000 deep', `${'{'.repeat(50_000)}${'}'.repeat(50_000)}`],
    ['if 50,000 deep', `${'if (1) '.repeat(50_000)}var x = 1;`],
    ['small [ nesting, in place', '['.repeat(INLINE_MAX_CHARS)],
  ])('answers JavaScript nested %s with a syntax error', async (_name, source) => {
    const err = await failure(transformer, source, 'javascript');
    expect(err).toBeInstanceOf(CellSyntaxError);
  });

  it('transforms a member chain as deep as the parser allows (500,000 levels)', async () => {
    const cell = await transformer.transform(`a${'.b'.repeat(500_000)}`, 'javascript', far());
    expect(cell.code.length).toBeGreaterThan(1_000_000);
  });

  it('runs many declarators in linear time (the rewrite has no quadratic step)', async () => {
    const names = Array.from({ length: 20_000 }, (_, i) => `v${i}`);
    const cell = await transformer.transform(`var ${names.join(', ')}, last = 1;`, 'javascript', far());
    expect(cell.declarations).toHaveLength(20_001);
  });

  it('fails OutOfMemory when the transform exhausts its worker heap, then recovers', async () => {
    const small = new CellTransformer({ maxHeapMb: 16, maxIdleWorkers: 0 });
    try {
      const err = await failure(small, `x = [${'{a:[1]},'.repeat(100_000)}]`, 'javascript');
      expect(err).toBeInstanceOf(CellTransformError);
      expect((err as CellTransformError).kind).toBe('out_of_memory');
      expect(transformFailureOutcome(err, 'cell.js', 1000)?.error?.reason).toBe('OutOfMemory');
      expect((await small.transform('const t: number = 1; t', 'typescript', far())).declarations).toEqual([
        't',
      ]);
    } finally {
      await small.close();
    }
  });

  it('stops a transform at the cap, and at the execution deadline', async () => {
    const slow = new CellTransformer({ maxJobMs: 50 });
    // `let` declarators are quadratic in the parser: seconds for this many.
    const heavy = `let ${Array.from({ length: 60_000 }, (_, i) => `q${i} = 1`).join(', ')};`;
    try {
      const capped = await failure(slow, heavy, 'javascript');
      expect((capped as CellTransformError).kind).toBe('too_long');
      expect(transformFailureOutcome(capped, 'cell.js', 1000)).toMatchObject({
        status: 'failed',
        error: { reason: 'SyntaxError', message: /took longer than 50 ms/ },
      });
      const late = await failure(transformer, heavy, 'javascript', { deadline: Date.now() + 50 });
      expect((late as CellTransformError).kind).toBe('timed_out');
      expect(transformFailureOutcome(late, 'cell.js', 50)?.status).toBe('timed_out');
      expect((await transformer.transform('let u: number = 2; u', 'typescript', far())).declarations).toEqual(
        ['u'],
      );
    } finally {
      await slow.close();
    }
  });

  it('stops a transform when the execution is cancelled', async () => {
    const abort = new AbortController();
    const heavy = `let ${Array.from({ length: 60_000 }, (_, i) => `r${i} = 1`).join(', ')};`;
    const pending = failure(transformer, heavy, 'javascript', { ...far(), signal: abort.signal });
    abort.abort();
    const err = await pending;
    expect((err as CellTransformError).kind).toBe('cancelled');
    expect(transformFailureOutcome(err, 'cell.js', 1000)?.status).toBe('cancelled');
  });

  it('strips TypeScript modules in a worker, a broken one failing alone', async () => {
    expect(await transformer.stripTypeScript('export const k: number = 1;', far())).toContain(
      'export const k',
    );
    await expect(transformer.stripTypeScript(`export ${deepGeneric(30_000)}`, far())).rejects.toThrow(
      /TypeScript stripping failed/,
    );
    await expect(transformer.stripTypeScript('export let k: = 1;', far())).rejects.toThrow(SyntaxError);
    expect(await transformer.stripTypeScript('enum E { A }', far())).toContain('E');
  });
});
