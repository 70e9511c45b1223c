// The `fs` global of cells against a real OPA: runner processes (ChildRunnerPool) whose filesystem
// policy is the seed README's fs policy adapted to a workspace directory of this test. Every
// operation is tried where the policy allows it and where it does not; `..` and symbolic links
// must not lead out of the workspace.
import {
  existsSync,
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
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionOutcome } from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';

const opa = inject('services').opa!;

// Real path: the policy is asked about real paths, and tmpdir() may itself be a link.
// (At load time: the tables of it.each name these paths.)
const base = realpathSync(mkdtempSync(join(tmpdir(), 'fs-int-')));
const ws = join(base, 'ws');
const outside = join(base, 'outside');
let pool: ChildRunnerPool;
let seq = 0;

/** The seed's policy (reads, writes, listing below /tmp/), widened to every op, for `ws`. */
const policy = (workspace: string) => `package fsint.fs

default allow := false

ws := ${JSON.stringify(`${workspace}/`)}

inside(p) if startswith(p, ws)

allow if {
  input.operation in {"readFile", "writeFile", "appendFile", "readdir", "stat", "exists", "mkdir"}
  inside(input.path)
  not binary_text
}

# Text files are read as text: the encoding reaches the policy.
binary_text if {
  input.operation == "readFile"
  input.encoding == "buffer"
  endswith(input.path, ".txt")
}

allow if {
  input.operation == "rm"
  inside(input.path)
  not input.recursive
}

# Recursive removal only below scratch/.
allow if {
  input.operation == "rm"
  input.recursive
  startswith(input.path, concat("", [ws, "scratch/"]))
}

allow if {
  input.operation in {"rename", "copyFile"}
  inside(input.path)
  inside(input.destination)
}
`;

beforeAll(async () => {
  mkdirSync(ws);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  const put = await fetch(`${opa.url}/v1/policies/fsint-fs`, { method: 'PUT', body: policy(ws) });
  expect(put.status, await put.text()).toBe(200);
  pool = new ChildRunnerPool({
    runners: 1,
    runner: {
      policies: {
        filesystem: { mode: 'all', timeoutMs: 2000, sources: [{ url: opa.url, path: 'fsint/fs' }] },
      },
    },
  });
  await pool.whenReady();
});

afterAll(async () => {
  await pool?.close();
  rmSync(base, { recursive: true, force: true });
});

function run(code: string): Promise<ExecutionOutcome> {
  return pool.run(
    { executionId: `fs${++seq}`, code, language: 'javascript', heapMb: 32, timeoutMs: 20_000 },
    () => {},
    new AbortController().signal,
  );
}

async function value(code: string): Promise<unknown> {
  const outcome = await run(code);
  expect(outcome.status, JSON.stringify(outcome.error)).toBe('completed');
  return outcome.result === undefined ? undefined : JSON.parse(outcome.result);
}

/** How `call` settled in the cell: 'ok', or the error's name, code and message. */
async function settle(call: string): Promise<{ name: string; code?: string; message: string } | 'ok'> {
  return (await value(
    `await ${call}.then(() => 'ok', (e) => ({ name: e.name, code: e.code, message: e.message }))`,
  )) as { name: string; code?: string; message: string } | 'ok';
}

const q = (...parts: string[]) => JSON.stringify(join(...parts));

describe('fs under a real OPA policy', () => {
  it('allows every operation inside the workspace', async () => {
    const result = await value(`
      const ws = ${JSON.stringify(ws)};
      await fs.mkdir(ws + '/a/b', { recursive: true });
      await fs.writeFile(ws + '/a/note.txt', 'hello');
      await fs.appendFile(ws + '/a/note.txt', ', world');
      await fs.copyFile(ws + '/a/note.txt', ws + '/a/copy.txt');
      await fs.rename(ws + '/a/copy.txt', ws + '/a/moved.txt');
      const st = await fs.stat(ws + '/a/moved.txt');
      const out = {
        text: await fs.readFile(ws + '/a/moved.txt', 'utf8'),
        names: await fs.readdir(ws + '/a'),
        stat: { size: st.size, isFile: st.isFile, isDirectory: st.isDirectory },
        exists: await fs.exists(ws + '/a/moved.txt'),
      };
      await fs.rm(ws + '/a/moved.txt');
      out.gone = !(await fs.exists(ws + '/a/moved.txt'));
      out
    `);
    expect(result).toEqual({
      text: 'hello, world',
      names: ['b', 'moved.txt', 'note.txt'],
      stat: { size: 12, isFile: true, isDirectory: false },
      exists: true,
      gone: true,
    });
    expect(readFileSync(join(ws, 'a/note.txt'), 'utf8')).toBe('hello, world');
  });

  it.each([
    ['readFile', `fs.readFile(${q(outside, 'secret.txt')})`],
    ['writeFile', `fs.writeFile(${q(outside, 'new.txt')}, 'x')`],
    ['appendFile', `fs.appendFile(${q(outside, 'secret.txt')}, 'x')`],
    ['readdir', `fs.readdir(${q(outside)})`],
    ['stat', `fs.stat(${q(outside, 'secret.txt')})`],
    ['exists', `fs.exists(${q(outside, 'secret.txt')})`],
    ['mkdir', `fs.mkdir(${q(outside, 'dir')})`],
    ['rm', `fs.rm(${q(outside, 'secret.txt')})`],
    ['rename (source outside)', `fs.rename(${q(outside, 'secret.txt')}, ${q(ws, 'stolen.txt')})`],
    ['rename (destination outside)', `fs.rename(${q(ws, 'a/note.txt')}, ${q(outside, 'dropped.txt')})`],
    ['copyFile (source outside)', `fs.copyFile(${q(outside, 'secret.txt')}, ${q(ws, 'stolen.txt')})`],
    ['copyFile (destination outside)', `fs.copyFile(${q(ws, 'a/note.txt')}, ${q(outside, 'dropped.txt')})`],
    ['rm recursive outside scratch/', `fs.rm(${q(ws, 'a')}, { recursive: true })`],
    ['readFile of a .txt as buffer', `fs.readFile(${q(ws, 'a/note.txt')}, 'buffer')`],
  ])('denies %s where the policy does not allow it', async (_name, call) => {
    writeFileSync(join(ws, 'a-marker'), '');
    const result = await settle(call);
    expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
    expect((result as { message: string }).message).toMatch(/denied by policy/);
    // Nothing happened on disk.
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
    for (const f of ['new.txt', 'dir', 'dropped.txt']) expect(existsSync(join(outside, f))).toBe(false);
    expect(existsSync(join(ws, 'stolen.txt'))).toBe(false);
    expect(existsSync(join(ws, 'a/note.txt'))).toBe(true);
  });

  it('allows recursive rm below scratch/', async () => {
    mkdirSync(join(ws, 'scratch/tmp/deep'), { recursive: true });
    writeFileSync(join(ws, 'scratch/tmp/deep/f'), 'x');
    expect(await settle(`fs.rm(${q(ws, 'scratch/tmp')}, { recursive: true })`)).toBe('ok');
    expect(existsSync(join(ws, 'scratch/tmp'))).toBe(false);
  });

  it('normalises `..` before the policy sees the path, and refuses the escape', async () => {
    const result = await settle(`fs.readFile(${JSON.stringify(`${ws}/../outside/secret.txt`)})`);
    expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
    expect((result as { message: string }).message).toContain(`${outside}/secret.txt`);
    const passwd = await settle(`fs.readFile(${JSON.stringify(`${ws}/../../../../../../../etc/passwd`)})`);
    expect(passwd).toMatchObject({ name: 'PolicyError' });
    expect((passwd as { message: string }).message).toContain('fs readFile /etc/passwd');
  });

  it('refuses to read or write through a link that leads out of the workspace', async () => {
    symlinkSync(outside, join(ws, 'escape'));
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'secret-link'));
    for (const call of [
      `fs.readFile(${q(ws, 'escape/secret.txt')})`,
      `fs.readFile(${q(ws, 'secret-link')})`,
      `fs.writeFile(${q(ws, 'secret-link')}, 'pwned')`,
      `fs.appendFile(${q(ws, 'secret-link')}, 'pwned')`,
      `fs.writeFile(${q(ws, 'escape/planted.txt')}, 'pwned')`,
      `fs.readdir(${q(ws, 'escape')})`,
      `fs.copyFile(${q(ws, 'a/note.txt')}, ${q(ws, 'escape/copied.txt')})`,
      `fs.rename(${q(ws, 'a/note.txt')}, ${q(ws, 'escape/moved.txt')})`,
    ]) {
      const result = await settle(call);
      expect(result, call).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
      // The link's target is a host path the cell never named: not in the message.
      expect((result as { message: string }).message, call).not.toContain(outside);
    }
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
    for (const f of ['planted.txt', 'copied.txt', 'moved.txt'])
      expect(existsSync(join(outside, f))).toBe(false);
  });

  it('removes a link and not its target; rm recursive does not follow links out', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'link-to-remove'));
    expect(await settle(`fs.rm(${q(ws, 'link-to-remove')})`)).toBe('ok');
    mkdirSync(join(ws, 'scratch/tree/sub'), { recursive: true });
    symlinkSync(outside, join(ws, 'scratch/tree/sub/out'));
    expect(await settle(`fs.rm(${q(ws, 'scratch/tree')}, { recursive: true })`)).toBe('ok');
    expect(existsSync(join(ws, 'scratch/tree'))).toBe(false);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('round-trips all 256 byte values', async () => {
    const result = await value(`
      const bytes = new Uint8Array(256).map((_, i) => i);
      await fs.writeFile(${q(ws, 'all.bin')}, bytes);
      const back = await fs.readFile(${q(ws, 'all.bin')}, 'buffer');
      [back.length, back.every((b, i) => b === i)]
    `);
    expect(result).toEqual([256, true]);
    expect([...readFileSync(join(ws, 'all.bin'))]).toEqual([...Array(256).keys()]);
  });

  it('shows ENOENT and EISDIR as err.code in the cell', async () => {
    mkdirSync(join(ws, 'adir'), { recursive: true });
    expect(await settle(`fs.readFile(${q(ws, 'no-such-file')})`)).toEqual({
      name: 'Error',
      code: 'ENOENT',
      message: `ENOENT: no such file or directory, open '${join(ws, 'no-such-file')}'`,
    });
    expect(await settle(`fs.readFile(${q(ws, 'adir')})`)).toMatchObject({ code: 'EISDIR' });
  });
});
