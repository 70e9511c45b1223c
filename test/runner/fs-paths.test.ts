// Paths of the fs capability: normalisation before the policy sees a path, and the real path
// (symbolic links resolved as the kernel would) that is authorized too and acted on.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FsRoots,
  MAX_PATH_CHARS,
  normalizeUserPath,
  resolveRealPath,
} from '../../src/runner/host/fs-paths.ts';

describe('normalizeUserPath', () => {
  it.each([
    ['/a/b/../c', '/a/c'],
    ['/a//b/./c/', '/a/b/c'],
    ['/tmp/root/../../etc/passwd', '/etc/passwd'],
    ['/../../..', '/'],
    ['/', '/'],
    ['/a/…/ü', '/a/…/ü'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeUserPath(input)).toBe(expected);
  });

  it.each([
    ['relative', 'a/b'],
    ['dot-relative', './a'],
    ['parent-relative', '../etc/passwd'],
    ['empty', ''],
    ['a NUL byte', '/tmp/a\0/etc/passwd'],
  ])('refuses a %s path with EINVAL', (_name, input) => {
    expect(() => normalizeUserPath(input)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('refuses an overlong path with ENAMETOOLONG, quoting it only in part', () => {
    const long = '/' + 'a'.repeat(MAX_PATH_CHARS);
    let error: Error | undefined;
    try {
      normalizeUserPath(long);
    } catch (e) {
      error = e as Error;
    }
    expect(error).toMatchObject({ code: 'ENAMETOOLONG' });
    expect(error!.message.length).toBeLessThan(400);
  });
});

describe('resolveRealPath', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'fs-paths-')));
    mkdirSync(join(dir, 'a/b/c'), { recursive: true });
    writeFileSync(join(dir, 'a/file'), 'x');
    symlinkSync(join(dir, 'a/b'), join(dir, 'abs-link')); // absolute target
    symlinkSync('a/b/c', join(dir, 'rel-link')); // relative target
    symlinkSync('missing/target', join(dir, 'dangling'));
    symlinkSync('loop2', join(dir, 'loop1'));
    symlinkSync('loop1', join(dir, 'loop2'));
    symlinkSync('rel-link', join(dir, 'chain'));
    symlinkSync('/', join(dir, 'to-root'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const real = async (p: string, follow = true) => resolveRealPath(join(dir, p), follow);

  it('keeps a path without links as it is, existing or not', async () => {
    expect(await real('a/b/c')).toEqual({ real: join(dir, 'a/b/c') });
    expect(await real('a/b/new/deeper')).toEqual({ real: join(dir, 'a/b/new/deeper') });
  });

  it('follows absolute, relative and chained links, in the middle and at the end', async () => {
    expect(await real('abs-link/c')).toEqual({ real: join(dir, 'a/b/c') });
    expect(await real('abs-link')).toEqual({ real: join(dir, 'a/b') });
    expect(await real('rel-link/new.txt')).toEqual({ real: join(dir, 'a/b/c/new.txt') });
    expect(await real('chain')).toEqual({ real: join(dir, 'a/b/c') });
    expect(await real('to-root/etc/passwd')).toEqual({ real: '/etc/passwd' });
  });

  it('leaves the last link alone when not following it, but resolves its directory', async () => {
    expect(await real('abs-link', false)).toEqual({ real: join(dir, 'abs-link') });
    expect(await real('abs-link/c', false)).toEqual({ real: join(dir, 'a/b/c') });
    expect(await real('to-root/etc', false)).toEqual({ real: '/etc' });
  });

  it('resolves a dangling link to where a write would create the file', async () => {
    expect(await real('dangling')).toEqual({ real: join(dir, 'missing/target') });
    expect(await real('dangling', false)).toEqual({ real: join(dir, 'dangling') });
  });

  it('applies `..` after a link to the link target, as the kernel does', async () => {
    // rel-link → a/b/c, so rel-link/.. is a/b (not dir itself, as a lexical collapse would say)
    expect(await resolveRealPath(`${join(dir, 'rel-link')}/../x`, true)).toEqual({
      real: join(dir, 'a/b/x'),
    });
  });

  it('reports loops, files used as directories and walks through missing directories', async () => {
    expect(await real('loop1')).toMatchObject({ failure: 'ELOOP' });
    expect(await real('a/file/x')).toEqual({ real: join(dir, 'a/file/x'), failure: 'ENOTDIR' });
    symlinkSync('nowhere/../../..', join(dir, 'up-through-missing'));
    expect(await real('up-through-missing/etc')).toMatchObject({ failure: 'ENOENT' });
  });
});

describe('FsRoots', () => {
  it('contains a root and what lies below it, not a sibling sharing its prefix', () => {
    const roots = new FsRoots(['/data/', '/srv/x/../y'], () => undefined);
    expect(roots.contains('/data')).toBe(true);
    expect(roots.contains('/data/a/b')).toBe(true);
    expect(roots.contains('/database')).toBe(false);
    expect(roots.contains('/srv/y/z')).toBe(true);
    expect(roots.contains('/srv/x')).toBe(false);
    expect(roots.contains('/')).toBe(false);
  });

  it('also accepts the real form of a root', () => {
    const roots = new FsRoots(['/tmp'], (p) => (p === '/tmp' ? '/private/tmp' : undefined));
    expect(roots.contains('/private/tmp/a')).toBe(true);
    expect(roots.contains('/tmp/a')).toBe(true);
  });

  it('treats / as containing everything', () => {
    expect(new FsRoots(['/'], () => undefined).contains('/etc/passwd')).toBe(true);
  });

  it('refuses relative roots', () => {
    expect(() => new FsRoots(['data'], () => undefined)).toThrow(/absolute/);
  });
});
