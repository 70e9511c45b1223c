/**
 * Heaps in a directory (`--directory-path`, default /tmp/mcp-v8-heaps): one file per journal
 * node, `<dir>/<first two hex>/<id>.json`, written to a temporary file and renamed into place so
 * a reader never sees half a node. Content is verified against its id on every read. Disk
 * failures (EACCES, ENOSPC, EROFS …) are MCPV8_ERR_HEAP_STORE_UNAVAILABLE.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Mcpv8Error,
  assertHeapId,
  decodeHeapNode,
  encodeHeapNode,
  type HeapId,
  type HeapNode,
  type HeapStore,
} from '../core/index.ts';
import { errorCode, heapStoreFailure } from '../core/heap-store-failure.ts';

/** A stored heap file, as {@link DirHeapStore.list} finds it. */
export interface StoredHeapFile {
  id: HeapId;
  bytes: number;
  mtimeMs: number;
}

const SHARD = /^[0-9a-f]{2}$/;
const FILE = /^([0-9a-f]{64})\.json$/;

export class DirHeapStore implements HeapStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async put(node: HeapNode): Promise<HeapId> {
    const { id, bytes } = encodeHeapNode(node);
    const file = this.#file(id);
    try {
      if (await exists(file)) return id;
      await mkdir(join(this.#dir, id.slice(0, 2)), { recursive: true });
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, bytes, { flag: 'wx' });
        await rename(tmp, file);
      } catch (err) {
        await unlink(tmp).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw heapStoreFailure(err, `cannot write the heap directory (${errorCode(err)})`);
    }
    return id;
  }

  async get(id: string): Promise<HeapNode> {
    assertHeapId(id);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#file(id));
    } catch (err) {
      if (isMissing(err)) throw new Mcpv8Error('MCPV8_ERR_HEAP_NOT_FOUND', [id]);
      throw heapStoreFailure(err, `cannot read the heap directory (${errorCode(err)})`);
    }
    return decodeHeapNode(id, bytes);
  }

  async has(id: string): Promise<boolean> {
    assertHeapId(id);
    try {
      return await exists(this.#file(id));
    } catch (err) {
      throw heapStoreFailure(err, `cannot read the heap directory (${errorCode(err)})`);
    }
  }

  /** Removes a heap file (a no-op when absent). Not part of HeapStore: heaps are immutable; caches evict. */
  async delete(id: string): Promise<void> {
    assertHeapId(id);
    try {
      await unlink(this.#file(id));
    } catch (err) {
      if (!isMissing(err))
        throw heapStoreFailure(err, `cannot delete from the heap directory (${errorCode(err)})`);
    }
  }

  /** Every heap file in the directory (no content check; temporary files are skipped). */
  async list(): Promise<StoredHeapFile[]> {
    const found: StoredHeapFile[] = [];
    try {
      for (const shard of await readdirOrEmpty(this.#dir)) {
        if (!SHARD.test(shard)) continue;
        for (const name of await readdirOrEmpty(join(this.#dir, shard))) {
          const id = FILE.exec(name)?.[1];
          if (!id?.startsWith(shard)) continue;
          const st = await stat(join(this.#dir, shard, name)).catch((err: unknown) => {
            if (isMissing(err)) return undefined; // removed meanwhile
            throw err;
          });
          if (st?.isFile()) found.push({ id, bytes: st.size, mtimeMs: st.mtimeMs });
        }
      }
    } catch (err) {
      throw heapStoreFailure(err, `cannot list the heap directory (${errorCode(err)})`);
    }
    return found;
  }

  #file(id: HeapId): string {
    return join(this.#dir, id.slice(0, 2), `${id}.json`);
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT';
}

/** False only when the file is absent; any other failure (EACCES, ENOTDIR …) is thrown. */
async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}
