/**
 * The fs operations themselves, each on paths already authorized (see fs-access.ts) and each
 * answering with plain JSON for the cell (and the journal, which replays it without touching the
 * disk again). Files are opened with O_NOFOLLOW, so a link that appears at the last component
 * after the check is refused (ELOOP) rather than followed, and with O_NONBLOCK, so a FIFO cannot
 * park a thread of the runner; only regular files are read or written.
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, opendir, rename, rm } from 'node:fs/promises';
import { throwIfFailed, type FsAccess } from './fs-access.ts';
import { errnoError, toFsError } from './fs-errors.ts';
import { errnoCode, resolveRealPath, showPath } from './fs-paths.ts';
import { SandboxFacingError } from './host-capability.ts';

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;

/** What `fs.stat` answers: plain values (booleans, not Node's methods). */
export interface FsStat {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  /** Whether the path itself is a symbolic link (the other fields describe its target). */
  isSymbolicLink: boolean;
  mtimeMs: number;
  ctimeMs: number;
  mode: number;
}

export interface FsLimits {
  maxFileBytes: number;
  maxDirEntries: number;
}

/** The operations of one execution: authorization through `access`, bounds from `limits`. */
export class FsOperations {
  readonly #access: FsAccess;
  readonly #limits: FsLimits;

  constructor(access: FsAccess, limits: FsLimits) {
    this.#access = access;
    this.#limits = limits;
  }

  /** Contents of a regular file: a string (UTF-8) or base64 of the bytes. */
  async readFile(path: string, encoding: 'utf8' | 'buffer', signal: AbortSignal): Promise<string> {
    const targets = await this.#access.authorize('readFile', [path], true, { encoding }, signal);
    return guard('open', [path], async () => {
      throwIfFailed(targets, 'open');
      const handle = await open(targets[0]!.real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
      try {
        const stats = await handle.stat();
        regularOrFail(stats, 'read', path);
        if (stats.size > this.#limits.maxFileBytes)
          throw tooLarge(stats.size, this.#limits.maxFileBytes, path);
        const bytes = Buffer.alloc(stats.size);
        let filled = 0;
        // A file shrinking meanwhile ends early; one growing is read as it was when opened.
        while (filled < bytes.length) {
          const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return bytes.subarray(0, filled).toString(encoding === 'utf8' ? 'utf8' : 'base64');
      } finally {
        await handle.close();
      }
    });
  }

  /** Writes (or appends) `data` to a regular file, creating it when missing. */
  async write(
    op: 'writeFile' | 'appendFile',
    path: string,
    data: Buffer,
    signal: AbortSignal,
  ): Promise<void> {
    if (data.length > this.#limits.maxFileBytes) throw tooLarge(data.length, this.#limits.maxFileBytes, path);
    const targets = await this.#access.authorize(op, [path], true, {}, signal);
    await guard('open', [path], async () => {
      throwIfFailed(targets, 'open');
      const mode = op === 'appendFile' ? O_APPEND : O_TRUNC;
      const handle = await open(targets[0]!.real, O_WRONLY | O_CREAT | mode | O_NOFOLLOW | O_NONBLOCK, 0o666);
      try {
        regularOrFail(await handle.stat(), 'write', path);
        await handle.writeFile(data);
      } finally {
        await handle.close();
      }
    });
  }

  /** Names in a directory, sorted (a stable answer for replays and tests). */
  async readdir(path: string, signal: AbortSignal): Promise<string[]> {
    const targets = await this.#access.authorize('readdir', [path], true, {}, signal);
    return guard('scandir', [path], async () => {
      throwIfFailed(targets, 'scandir');
      const names: string[] = [];
      for await (const entry of await opendir(targets[0]!.real, { bufferSize: 128 })) {
        if (names.length >= this.#limits.maxDirEntries) {
          throw new SandboxFacingError(
            'RangeError',
            `readdir '${showPath(path)}': more than ${this.#limits.maxDirEntries} entries`,
            'ERR_FS_TOO_MANY_ENTRIES',
          );
        }
        names.push(entry.name);
      }
      return names.sort();
    });
  }

  /** Metadata of what `path` leads to; `isSymbolicLink` tells whether `path` itself is a link. */
  async stat(path: string, signal: AbortSignal): Promise<FsStat> {
    const [target] = await this.#access.authorize('stat', [path], true, {}, signal);
    const link = await resolveRealPath(target!.normalised, false);
    const isSymbolicLink = link.real !== target!.real;
    if (isSymbolicLink && link.real !== target!.normalised)
      await this.#access.authorizeAlso('stat', link.real, path, {}, signal);
    return guard('stat', [path], async () => {
      throwIfFailed([target!], 'stat');
      // lstat: the real path has no links left; one appearing meanwhile is not followed.
      const s = await lstat(target!.real);
      return {
        size: s.size,
        isFile: s.isFile(),
        isDirectory: s.isDirectory(),
        isSymbolicLink,
        mtimeMs: s.mtimeMs,
        ctimeMs: s.ctimeMs,
        mode: s.mode,
      };
    });
  }

  /** Whether `path` leads to something (a dangling link does not), as Node's `existsSync`. */
  async exists(path: string, signal: AbortSignal): Promise<boolean> {
    const [target] = await this.#access.authorize('exists', [path], true, {}, signal);
    if (target!.failure !== undefined) return false;
    try {
      await lstat(target!.real);
      return true;
    } catch {
      return false;
    }
  }

  async mkdir(path: string, recursive: boolean, signal: AbortSignal): Promise<void> {
    const targets = await this.#access.authorize('mkdir', [path], false, { recursive }, signal);
    await guard('mkdir', [path], async () => {
      throwIfFailed(targets, 'mkdir');
      await mkdir(targets[0]!.real, { recursive });
    });
  }

  /**
   * Removes a file, a link (never its target) or, with `recursive`, a directory tree; Node's
   * fs.rm does not follow links inside the tree either.
   */
  async rm(path: string, recursive: boolean, force: boolean, signal: AbortSignal): Promise<void> {
    const targets = await this.#access.authorize('rm', [path], false, { recursive }, signal);
    await guard('rm', [path], async () => {
      if (force && targets[0]!.failure === 'ENOENT') return;
      throwIfFailed(targets, 'rm');
      await rm(targets[0]!.real, { recursive, force });
    });
  }

  /** Renames an entry (a link is moved as a link). */
  async rename(from: string, to: string, signal: AbortSignal): Promise<void> {
    const targets = await this.#access.authorize('rename', [from, to], false, {}, signal);
    await guard('rename', [from, to], async () => {
      throwIfFailed(targets, 'rename');
      await rename(targets[0]!.real, targets[1]!.real);
    });
  }

  /** Copies a regular file's contents (links followed on both sides, as Node). */
  async copyFile(from: string, to: string, signal: AbortSignal): Promise<void> {
    const targets = await this.#access.authorize('copyFile', [from, to], true, {}, signal);
    await guard('copyfile', [from, to], async () => {
      throwIfFailed(targets, 'copyfile');
      const [src, dst] = [targets[0]!.real, targets[1]!.real];
      // copyfile(2) would block on a FIFO: only regular files on either side.
      regularOrFail(await lstat(src), 'copyfile', from, to);
      const existing = await lstat(dst).catch((err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (existing) regularOrFail(existing, 'copyfile', from, to);
      await copyFile(src, dst);
    });
  }
}

/** Runs `act`, turning Node's errors into Node-style errors that quote only the user's paths. */
async function guard<T>(syscall: string, paths: readonly string[], act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (err) {
    throw toFsError(err, syscall, paths);
  }
}

function regularOrFail(
  stats: { isFile(): boolean; isDirectory(): boolean },
  syscall: string,
  ...paths: string[]
): void {
  if (stats.isFile()) return;
  throw errnoError(stats.isDirectory() ? 'EISDIR' : 'EINVAL', syscall, paths);
}

/** Node's error for a file too large to read (or data too large to write). */
export function tooLarge(size: number, max: number, path: string): SandboxFacingError {
  return new SandboxFacingError(
    'RangeError',
    `File size (${size}) is greater than the limit of ${max} bytes: '${showPath(path)}'`,
    'ERR_FS_FILE_TOO_LARGE',
  );
}
