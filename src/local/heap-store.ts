/**
 * Heaps in a directory (`--directory-path`, default /tmp/mcp-v8-heaps): one file per journal
 * node, `<dir>/<first two hex>/<id>.json`, written to a temporary file and renamed into place so
 * a reader never sees half a node. Content is verified against its id on every read.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
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

export class DirHeapStore implements HeapStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async put(node: HeapNode): Promise<HeapId> {
    const { id, bytes } = encodeHeapNode(node);
    const file = this.#file(id);
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
    return id;
  }

  async get(id: string): Promise<HeapNode> {
    assertHeapId(id);
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#file(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Mcpv8Error('MCPV8_ERR_HEAP_NOT_FOUND', [id]);
      throw err;
    }
    return decodeHeapNode(id, bytes);
  }

  async has(id: string): Promise<boolean> {
    assertHeapId(id);
    return exists(this.#file(id));
  }

  #file(id: HeapId): string {
    return join(this.#dir, id.slice(0, 2), `${id}.json`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
