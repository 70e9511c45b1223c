/**
 * The `fs` capability: file operations for user code, each one allowed by the filesystem policy
 * (see fs-access.ts for the order of checks, fs-operations.ts for the operations). Offered only
 * when a filesystem policy is configured.
 *
 * Races. The operations of one execution run one at a time, so a cell cannot race its own
 * checks (e.g. rename a directory away while another call of it is between check and use). What
 * remains is the usual check-then-act window against other actors: between the check and the
 * syscall, another process could replace a directory of the checked real path with a symbolic
 * link. User code cannot create links (there is no symlink op, and rename cannot put a link
 * where a directory is), so another execution could only do it in two steps (rm the directory,
 * then rename an existing link into its place) within that window. Files are opened with
 * O_NOFOLLOW and the window is a few microseconds; Node offers no openat2/RESOLVE_BENEATH to
 * close it entirely.
 */
import { realpathSync } from 'node:fs';
import type { PolicyEngine } from '../../core/index.ts';
import { FsAccess } from './fs-access.ts';
import { FsOperations } from './fs-operations.ts';
import { FS_OPS, isFsOp, parseFsPayload, type Chunk, type FsOp } from './fs-payloads.ts';
import { FsRoots } from './fs-paths.ts';
import { SandboxFacingError, type CapabilityHandler, type HostCapability } from './host-capability.ts';

/** Bounds and confinement of the fs capability (RunnerOptions `filesystem`). */
export interface FilesystemOptions {
  /** Largest file `readFile` returns and largest data one `writeFile`/`appendFile` writes. */
  maxFileBytes: number;
  /** Most names `readdir` returns. */
  maxDirEntries: number;
  /**
   * When set, every path — as given and as real path — must be one of these absolute
   * directories or lie below one, whatever the policy says.
   */
  roots?: string[];
}

export const DEFAULT_FILESYSTEM_OPTIONS: FilesystemOptions = {
  maxFileBytes: 16 << 20,
  maxDirEntries: 10_000,
};

/** fs operations of one execution waiting for their turn; more are refused. */
const MAX_PENDING_OPERATIONS = 64;
/** Writes being staged at once by one execution (the prelude stages one at a time). */
const MAX_STAGES = 4;

/** The capability; `options` may be partial (it arrives over IPC), defaults fill the rest. */
export function createFsCapability(
  options: Partial<FilesystemOptions> | undefined,
  policy: PolicyEngine,
): HostCapability {
  const opts = { ...DEFAULT_FILESYSTEM_OPTIONS, ...options };
  for (const key of ['maxFileBytes', 'maxDirEntries'] as const) {
    if (!Number.isSafeInteger(opts[key]) || opts[key] < 1)
      throw new Error(`filesystem.${key} must be a positive integer`);
  }
  const roots = opts.roots && new FsRoots(opts.roots, realpathOrUndefined);
  const access = new FsAccess(policy, roots);
  const limits = { maxFileBytes: opts.maxFileBytes, maxDirEntries: opts.maxDirEntries };
  return {
    name: 'fs',
    ops: FS_OPS,
    forExecution: () => {
      const operations = new FsOperations(access, limits);
      const staged = new StagedWrites(opts.maxFileBytes);
      const queue = new SerialQueue(MAX_PENDING_OPERATIONS);
      const handler: CapabilityHandler = async (op, payload, signal) => {
        if (!isFsOp(op)) throw new SandboxFacingError('TypeError', `${op} is not an fs operation`);
        // Staging only buffers data in memory (bounded): no path, no policy, no turn to wait.
        if (op === 'fs.stage') {
          const p = parseFsPayload(op, payload);
          return { id: staged.add(p.id, chunkBytes(p.chunk)) };
        }
        return queue.run(() => {
          signal.throwIfAborted();
          return perform(op, payload, operations, staged, signal);
        });
      };
      return handler;
    },
  };
}

function perform(
  op: Exclude<FsOp, 'fs.stage'>,
  payload: string,
  fs: FsOperations,
  staged: StagedWrites,
  signal: AbortSignal,
): Promise<unknown> {
  switch (op) {
    case 'fs.readFile': {
      const p = parseFsPayload(op, payload);
      return fs.readFile(p.path, p.encoding, signal);
    }
    case 'fs.writeFile':
    case 'fs.appendFile': {
      const p = parseFsPayload(op, payload);
      const data = 'staged' in p.data ? staged.take(p.data.staged) : chunkBytes(p.data);
      return fs.write(op === 'fs.writeFile' ? 'writeFile' : 'appendFile', p.path, data, signal);
    }
    case 'fs.readdir':
      return fs.readdir(parseFsPayload(op, payload).path, signal);
    case 'fs.stat':
      return fs.stat(parseFsPayload(op, payload).path, signal);
    case 'fs.exists':
      return fs.exists(parseFsPayload(op, payload).path, signal);
    case 'fs.mkdir': {
      const p = parseFsPayload(op, payload);
      return fs.mkdir(p.path, p.recursive, signal);
    }
    case 'fs.rm': {
      const p = parseFsPayload(op, payload);
      return fs.rm(p.path, p.recursive, p.force, signal);
    }
    case 'fs.rename': {
      const p = parseFsPayload(op, payload);
      return fs.rename(p.from, p.to, signal);
    }
    case 'fs.copyFile': {
      const p = parseFsPayload(op, payload);
      return fs.copyFile(p.from, p.to, signal);
    }
  }
}

function chunkBytes(chunk: Chunk): Buffer {
  return 'text' in chunk ? Buffer.from(chunk.text, 'utf8') : Buffer.from(chunk.base64, 'base64');
}

function realpathOrUndefined(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Data of writes too large for one host call, sent ahead in chunks. Bounded per execution: all
 * staged bytes together at most `maxBytes`, a few stages, and a chunk count that the prelude's
 * chunk size (≥ 128 KiB) never reaches.
 */
export class StagedWrites {
  readonly #stages = new Map<number, Buffer[]>();
  readonly #maxBytes: number;
  readonly #maxChunks: number;
  #bytes = 0;
  #chunks = 0;
  #next = 1;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    this.#maxChunks = 64 + Math.ceil(maxBytes / 65536);
  }

  /** Adds `chunk` to stage `id` (a new stage when absent); returns the stage's id. */
  add(id: number | undefined, chunk: Buffer): number {
    const stage = id === undefined ? [] : this.#stages.get(id);
    if (!stage)
      throw new SandboxFacingError('TypeError', `fs.stage: no staged write ${id}`, 'ERR_INVALID_ARG_VALUE');
    if (this.#bytes + chunk.length > this.#maxBytes || this.#chunks >= this.#maxChunks) {
      if (id !== undefined) this.take(id);
      throw new SandboxFacingError(
        'RangeError',
        `data larger than ${this.#maxBytes} bytes cannot be written`,
        'ERR_FS_FILE_TOO_LARGE',
      );
    }
    if (id === undefined) {
      if (this.#stages.size >= MAX_STAGES)
        throw new SandboxFacingError('Error', `fs: more than ${MAX_STAGES} large writes at once`, 'EBUSY');
      id = this.#next++;
      this.#stages.set(id, stage);
    }
    stage.push(chunk);
    this.#bytes += chunk.length;
    this.#chunks++;
    return id;
  }

  /** The whole data of stage `id`, which is gone afterwards. */
  take(id: number): Buffer {
    const stage = this.#stages.get(id);
    if (!stage)
      throw new SandboxFacingError('TypeError', `fs: no staged write ${id}`, 'ERR_INVALID_ARG_VALUE');
    this.#stages.delete(id);
    const data = Buffer.concat(stage);
    this.#bytes -= data.length;
    this.#chunks -= stage.length;
    return data;
  }
}

/** Runs tasks one after another, refusing more than `max` waiting. */
class SerialQueue {
  readonly #max: number;
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;

  constructor(max: number) {
    this.#max = max;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#pending >= this.#max) {
      return Promise.reject(
        new SandboxFacingError('Error', `fs: more than ${this.#max} operations pending at once`, 'EBUSY'),
      );
    }
    this.#pending++;
    const result = this.#tail.then(task).finally(() => this.#pending--);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
