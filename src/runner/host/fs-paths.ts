/**
 * Paths of the fs capability. What user code names is checked and normalised before any policy
 * sees it (absolute, no NUL byte, `.`/`..`/`//` collapsed), and the runner then resolves the real
 * path — symbolic links followed one component at a time, without touching anything past a
 * missing component — so the policy can be asked about where the operation really lands, and the
 * operation is performed on exactly the path that was authorized.
 */
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { SandboxFacingError } from './host-capability.ts';

/** Longest path accepted from user code (Linux PATH_MAX). */
export const MAX_PATH_CHARS = 4096;
/** Symbolic links followed while resolving one path before giving up with ELOOP (as Linux). */
const MAX_SYMLINK_HOPS = 40;
/** How much of a user path an error message quotes. */
const MAX_SHOWN_CHARS = 300;

/** A user path as error messages quote it: bounded, NUL bytes visible. */
export function showPath(p: string): string {
  const shown = p.replace(/\0/g, '\\0');
  return shown.length > MAX_SHOWN_CHARS ? `${shown.slice(0, MAX_SHOWN_CHARS - 1)}…` : shown;
}

/**
 * The normalised form of a path given by user code: absolute, `.` and `..` collapsed, no trailing
 * slash. Relative paths are refused rather than resolved against the runner's working directory,
 * which user code knows nothing about and which must not decide what a policy sees.
 * @throws SandboxFacingError EINVAL (relative, empty, NUL byte) or ENAMETOOLONG.
 */
export function normalizeUserPath(p: string): string {
  if (p.includes('\0')) throw invalidPath(p, 'path must not contain NUL bytes');
  if (p.length > MAX_PATH_CHARS)
    throw new SandboxFacingError('Error', `ENAMETOOLONG: name too long, '${showPath(p)}'`, 'ENAMETOOLONG');
  if (!path.posix.isAbsolute(p)) throw invalidPath(p, 'path must be absolute');
  return path.posix.resolve(p);
}

function invalidPath(p: string, why: string): SandboxFacingError {
  return new SandboxFacingError('Error', `EINVAL: invalid argument, ${why}: '${showPath(p)}'`, 'EINVAL');
}

/** Where a normalised path really leads, and why the operation cannot succeed (if known). */
export interface RealPath {
  /** Absolute, normalised, and free of symbolic links in every component that exists. */
  real: string;
  /**
   * An errno code (ENOENT, ENOTDIR, ELOOP, EACCES…) when resolution showed the operation must
   * fail. It is reported only after `real` was authorized, so a refused path reveals nothing.
   */
  failure?: string;
}

/**
 * Resolves the symbolic links of `normalised` (from {@link normalizeUserPath}). Components that
 * do not exist are kept as they are (a file about to be created has the real path of its nearest
 * existing ancestor plus the rest). With `followFinal` false the last component is not followed:
 * the operation concerns the entry itself (rm, rename and mkdir act on a link, not its target).
 *
 * Like the kernel, `..` in a link target applies to the directory reached so far, which is always
 * a real directory here, so walking it lexically is exact.
 */
export async function resolveRealPath(normalised: string, followFinal: boolean): Promise<RealPath> {
  let pending = components(normalised);
  let current = '/';
  let hops = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      current = path.posix.dirname(current);
      continue;
    }
    const candidate = path.posix.join(current, name);
    const isLast = pending.every((c) => c === '.');
    let stats;
    try {
      stats = await lstat(candidate);
    } catch (err) {
      const code = errnoCode(err) ?? 'EIO';
      if (code === 'ENOENT' && !pending.includes('..'))
        return { real: path.posix.join(candidate, ...pending) };
      // `x/missing/../y` fails in the kernel too: a missing directory cannot be walked through.
      return { real: path.posix.resolve(candidate, ...pending), failure: code };
    }
    if (stats.isSymbolicLink() && (!isLast || followFinal)) {
      if (++hops > MAX_SYMLINK_HOPS)
        return { real: path.posix.join(candidate, ...pending), failure: 'ELOOP' };
      let target: string;
      try {
        target = await readlink(candidate);
      } catch (err) {
        // Replaced since the lstat: report it like the kernel would have.
        return { real: path.posix.resolve(candidate, ...pending), failure: errnoCode(err) ?? 'EIO' };
      }
      if (target.startsWith('/')) current = '/';
      pending = [...components(target), ...pending];
      continue;
    }
    if (!isLast && !stats.isDirectory())
      return { real: path.posix.resolve(candidate, ...pending), failure: 'ENOTDIR' };
    current = candidate;
  }
  return { real: current };
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '');
}

/** The errno-style code of a Node file-system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Directories every path must stay inside, each in its configured and its real form (so `/tmp`
 * still matches where /tmp is itself a link, as on macOS).
 */
export class FsRoots {
  readonly #roots: readonly string[];

  /** @throws Error when a root is not an absolute path (a configuration error). */
  constructor(roots: readonly string[], realpath: (p: string) => string | undefined) {
    const all = new Set<string>();
    for (const r of roots) {
      if (!path.posix.isAbsolute(r) || r.includes('\0'))
        throw new Error(`filesystem root must be absolute: ${r}`);
      const normalised = path.posix.resolve(r);
      all.add(normalised);
      const real = realpath(normalised);
      if (real !== undefined) all.add(real);
    }
    this.#roots = [...all];
  }

  /** True when `p` (normalised) is one of the roots or lies below one. */
  contains(p: string): boolean {
    return this.#roots.some((r) => p === r || p.startsWith(r === '/' ? r : `${r}/`));
  }
}
