// The in-isolate `fs` global end to end inside a real sandbox, with a policy engine stand-in that
// allows one directory and records what it was asked (the real OPA engine: test/integration/fs).
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Mcpv8Error, type PolicyEngine, type PolicyInput } from '../../src/core/index.ts';
import { executeCell } from '../../src/runner/execute-cell.ts';
import { createFsCapability, type FilesystemOptions } from '../../src/runner/host/fs-capability.ts';
import { executionHostCalls } from '../../src/runner/host/capabilities.ts';
import { LiveRecorder, ReplayRecorder, type Recorder } from '../../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../src/runner/runner-process.ts';
import { Sandbox } from '../../src/runner/sandbox/sandbox.ts';

let base: string;
let root: string;
let outside: string;
let asked: PolicyInput[];

/** Allows everything below `root` (as a prefix), like the seed's `startswith(input.path, …)`. */
const policy: PolicyEngine = {
  has: (c) => c === 'filesystem',
  authorize: async (_c, input) => {
    asked.push(input);
    const ok = [input.path, input.destination].every(
      (p) => p === undefined || (typeof p === 'string' && p.startsWith(`${root}/`)),
    );
    if (!ok)
      throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [
        `fs ${String(input.operation)} ${String(input.path)}`,
        'no',
      ]);
  },
};

const sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});
beforeEach(() => {
  // realpath: the policy sees real paths too, and tmpdir() may itself be a link.
  base = realpathSync(mkdtempSync(join(tmpdir(), 'fs-cap-')));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  asked = [];
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

async function run(
  code: string,
  opts: { recorder?: Recorder; fs?: Partial<FilesystemOptions>; heapMb?: number } = {},
) {
  const { wasmModules: _none, ...defaults } = DEFAULT_RUNNER_OPTIONS;
  const sandbox = await Sandbox.create({ ...defaults, heapMb: opts.heapMb ?? 16, capabilities: ['fs'] });
  sandboxes.push(sandbox);
  const capability = createFsCapability(opts.fs, policy);
  const outcome = await executeCell(
    { code, language: 'javascript', timeoutMs: 10_000 },
    {
      sandbox,
      recorder: opts.recorder ?? new LiveRecorder(),
      signal: new AbortController().signal,
      maxOutputBytes: 1 << 20,
      onOutput: () => {},
      hostCall: executionHostCalls([capability], { executionId: 'x', deadline: Date.now() + 10_000 }),
    },
  );
  return outcome;
}

async function value(code: string, opts?: Parameters<typeof run>[1]): Promise<unknown> {
  const outcome = await run(code, opts);
  if (outcome.status !== 'completed') throw new Error(`${outcome.status}: ${JSON.stringify(outcome.error)}`);
  return outcome.result === undefined ? undefined : JSON.parse(outcome.result);
}

/** A cell that reports how `expr` failed: name, code and message. */
const failure = (expr: string) =>
  `await ${expr}.then(() => 'no error', (e) => ({ name: e.name, code: e.code, message: e.message }))`;

describe('fs in a sandbox', () => {
  it('writes, reads, appends, lists, stats, copies, renames and removes', async () => {
    const r = JSON.stringify(root);
    const result = await value(`
      const r = ${r};
      await fs.mkdir(r + '/d/e', { recursive: true });
      await fs.writeFile(r + '/d/a.txt', 'héllo');
      await fs.appendFile(r + '/d/a.txt', ' wörld');
      await fs.copyFile(r + '/d/a.txt', r + '/d/b.txt');
      await fs.rename(r + '/d/b.txt', r + '/d/c.txt');
      const st = await fs.stat(r + '/d/c.txt');
      const out = {
        text: await fs.readFile(r + '/d/c.txt'),
        utf8: await fs.readFile(r + '/d/a.txt', { encoding: 'utf-8' }),
        list: await fs.readdir(r + '/d'),
        st: [st.size, st.isFile, st.isDirectory, st.isSymbolicLink, typeof st.mtimeMs, typeof st.mode],
        before: await fs.exists(r + '/d/c.txt'),
      };
      await fs.rm(r + '/d/c.txt');
      await fs.rm(r + '/d', { recursive: true });
      out.after = [await fs.exists(r + '/d/c.txt'), await fs.exists(r + '/d')];
      out.promises = typeof fs.promises.readFile;
      out
    `);
    expect(result).toEqual({
      text: 'héllo wörld',
      utf8: 'héllo wörld',
      list: ['a.txt', 'c.txt', 'e'],
      st: [13, true, false, false, 'number', 'number'],
      before: true,
      after: [false, false],
      promises: 'function',
    });
    expect(asked).toContainEqual({ operation: 'mkdir', path: `${root}/d/e`, recursive: true });
    expect(asked).toContainEqual({ operation: 'readFile', path: `${root}/d/c.txt`, encoding: 'utf8' });
    expect(asked).toContainEqual({
      operation: 'rename',
      path: `${root}/d/b.txt`,
      destination: `${root}/d/c.txt`,
    });
    expect(asked).toContainEqual({ operation: 'rm', path: `${root}/d`, recursive: true });
  });

  it('round-trips all 256 byte values, and data larger than one host call', async () => {
    const result = await value(`
      const small = new Uint8Array(256).map((_, i) => i);
      const big = new Uint8Array(3_000_001).map((_, i) => (i * 7) & 255);
      await fs.writeFile(${JSON.stringify(root + '/s.bin')}, small);
      await fs.writeFile(${JSON.stringify(root + '/b.bin')}, new DataView(big.buffer));
      await fs.writeFile(${JSON.stringify(root + '/t.txt')}, '€😀'.repeat(200_000));
      const s = await fs.readFile(${JSON.stringify(root + '/s.bin')}, 'buffer');
      const b = await fs.readFile(${JSON.stringify(root + '/b.bin')}, 'buffer');
      const t = await fs.readFile(${JSON.stringify(root + '/t.txt')});
      [s instanceof Uint8Array, s.every((v, i) => v === i), s.length, b.length, b.every((v, i) => v === ((i * 7) & 255)), t === '€😀'.repeat(200_000)]
    `);
    expect(result).toEqual([true, true, 256, 3_000_001, true, true]);
    expect([...readFileSync(join(root, 's.bin'))]).toEqual([...Array(256).keys()]);
    expect(readFileSync(join(root, 't.txt'), 'utf8')).toBe('€😀'.repeat(200_000));
  });

  it('gives Node-style error codes with the user path', async () => {
    expect(await value(failure(`fs.readFile(${JSON.stringify(root + '/missing.txt')})`))).toEqual({
      name: 'Error',
      code: 'ENOENT',
      message: `ENOENT: no such file or directory, open '${root}/missing.txt'`,
    });
    mkdirSync(join(root, 'dir'));
    expect(await value(failure(`fs.readFile(${JSON.stringify(root + '/dir/')})`))).toMatchObject({
      code: 'EISDIR',
    });
    expect(await value(failure(`fs.writeFile(${JSON.stringify(root + '/dir')}, 'x')`))).toMatchObject({
      code: 'EISDIR',
    });
    expect(
      await value(failure(`fs.copyFile(${JSON.stringify(root + '/dir')}, ${JSON.stringify(root + '/c')})`)),
    ).toMatchObject({
      code: 'EISDIR',
    });
    writeFileSync(join(root, 'f'), 'x');
    expect(await value(failure(`fs.mkdir(${JSON.stringify(root + '/f')})`))).toMatchObject({
      code: 'EEXIST',
    });
    expect(await value(failure(`fs.readdir(${JSON.stringify(root + '/f')})`))).toMatchObject({
      code: 'ENOTDIR',
    });
    mkdirSync(join(root, 'full'));
    writeFileSync(join(root, 'full', 'x'), '');
    expect(await value(failure(`fs.rm(${JSON.stringify(root + '/full')})`))).toMatchObject({
      code: 'EISDIR',
    });
    expect(
      await value(failure(`fs.rename(${JSON.stringify(root + '/f')}, ${JSON.stringify(root + '/full')})`)),
    ).toMatchObject({
      code: 'EISDIR',
    });
    expect(await value(failure(`fs.readFile('relative.txt')`))).toMatchObject({ code: 'EINVAL' });
    expect(await value(failure(`fs.readFile('/a\\0b')`))).toMatchObject({ code: 'EINVAL' });
    expect(await value(failure(`fs.readFile(42)`))).toMatchObject({
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
    });
    expect(await value(failure(`fs.writeFile(${JSON.stringify(root + '/x')}, {})`))).toMatchObject({
      name: 'TypeError',
    });
    expect(await value(failure(`fs.rm(${JSON.stringify(root + '/none')}, { force: true })`))).toBe(
      'no error',
    );
  });

  it('refuses `..` escapes with the normalised path the policy saw', async () => {
    const result = await value(failure(`fs.readFile(${JSON.stringify(root + '/../outside/secret.txt')})`));
    expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
    expect(asked).toEqual([{ operation: 'readFile', path: `${outside}/secret.txt`, encoding: 'utf8' }]);
  });

  it('refuses reading, writing and stat-ing through a link that leads outside, without naming the target', async () => {
    symlinkSync(outside, join(root, 'out'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'secret-link'));
    for (const expr of [
      `fs.readFile(${JSON.stringify(root + '/out/secret.txt')})`,
      `fs.readFile(${JSON.stringify(root + '/secret-link')})`,
      `fs.writeFile(${JSON.stringify(root + '/secret-link')}, 'pwned')`,
      `fs.writeFile(${JSON.stringify(root + '/out/new.txt')}, 'pwned')`,
      `fs.stat(${JSON.stringify(root + '/secret-link')})`,
      `fs.copyFile(${JSON.stringify(root + '/secret-link')}, ${JSON.stringify(root + '/copy')})`,
    ]) {
      const result = (await value(failure(expr))) as { name: string; message: string };
      expect(result, expr).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
      expect(result.message).not.toContain(outside);
    }
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
    expect(asked).toContainEqual({ operation: 'readFile', path: `${outside}/secret.txt`, encoding: 'utf8' });
    // The link itself lives inside: it may be removed, and only the link goes.
    expect(await value(`await fs.rm(${JSON.stringify(root + '/secret-link')}); 1`)).toBe(1);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('rm recursive of a directory holding an outward link leaves the target alone', async () => {
    mkdirSync(join(root, 'tree/sub'), { recursive: true });
    symlinkSync(outside, join(root, 'tree/sub/escape'));
    expect(await value(`await fs.rm(${JSON.stringify(root + '/tree')}, { recursive: true }); 1`)).toBe(1);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('enforces the roots even where the policy would allow', async () => {
    const result = await value(failure(`fs.readFile(${JSON.stringify(root + '/a')})`), {
      fs: { roots: [join(base, 'elsewhere')] },
    });
    expect(result).toMatchObject({ code: 'EACCES' });
    expect(asked).toEqual([]);
  });

  it('refuses files above the size limit', async () => {
    writeFileSync(join(root, 'big'), Buffer.alloc(2000));
    const fsOpts = { fs: { maxFileBytes: 1000 } };
    expect(await value(failure(`fs.readFile(${JSON.stringify(root + '/big')})`), fsOpts)).toMatchObject({
      name: 'RangeError',
      code: 'ERR_FS_FILE_TOO_LARGE',
    });
    expect(
      await value(failure(`fs.writeFile(${JSON.stringify(root + '/w')}, 'x'.repeat(1001))`), fsOpts),
    ).toMatchObject({
      code: 'ERR_FS_FILE_TOO_LARGE',
    });
    expect(
      await value(failure(`fs.writeFile(${JSON.stringify(root + '/w')}, new Uint8Array(2_000_000))`), {
        fs: { maxFileBytes: 1_000_000 },
      }),
    ).toMatchObject({ code: 'ERR_FS_FILE_TOO_LARGE' });
  });

  it('is not there without the capability', async () => {
    const { wasmModules: _none, ...defaults } = DEFAULT_RUNNER_OPTIONS;
    const sandbox = await Sandbox.create({ ...defaults, heapMb: 8 });
    sandboxes.push(sandbox);
    const outcome = await executeCell(
      { code: 'typeof fs', language: 'javascript', timeoutMs: 5000 },
      {
        sandbox,
        recorder: new LiveRecorder(),
        signal: new AbortController().signal,
        maxOutputBytes: 1 << 20,
        onOutput: () => {},
      },
    );
    expect(outcome.result).toBe('"undefined"');
  });

  it('replays fs results from the journal without touching the disk', async () => {
    writeFileSync(join(root, 'r.txt'), 'first');
    const live = new LiveRecorder();
    const code = `await fs.readFile(${JSON.stringify(root + '/r.txt')})`;
    expect(await value(code, { recorder: live })).toBe('first');
    writeFileSync(join(root, 'r.txt'), 'changed');
    expect(await value(code, { recorder: new ReplayRecorder(live.entries) })).toBe('first');
  });
});
