import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, encodeHeapNode, isMcpv8Error } from '../../src/core/index.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';
import { heapStoreContract, sampleNode } from '../contract/heap-store.contract.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'heaps-'));
  dirs.push(d);
  return d;
};

/** A path under a regular file: every operation fails with ENOTDIR, as with a broken disk. */
const brokenDir = () => {
  const file = join(newDir(), 'not-a-dir');
  writeFileSync(file, '');
  return join(file, 'heaps');
};

heapStoreContract('DirHeapStore', async () => new DirHeapStore(newDir()), {
  makeUnavailableStore: async () => new DirHeapStore(brokenDir()),
});

describe('DirHeapStore', () => {
  it('detects a stored heap whose content was changed', async () => {
    const dir = newDir();
    const store = new DirHeapStore(dir);
    const id = await store.put(sampleNode());
    const file = join(dir, id.slice(0, 2), `${id}.json`);
    writeFileSync(file, canonicalJson({ ...sampleNode(), cell: { code: 'evil()', language: 'javascript' } }));
    const err = await store.get(id).catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_CORRUPT')).toBe(true);
  });

  it('names the failing system call in the reason, and lists and deletes heap files', async () => {
    const err = await new DirHeapStore(brokenDir()).put(sampleNode()).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'the heap store is unavailable: cannot write the heap directory (ENOTDIR)',
    );
    const dir = newDir();
    const store = new DirHeapStore(dir);
    const id = await store.put(sampleNode());
    writeFileSync(join(dir, id.slice(0, 2), `${id}.json.abc.tmp`), 'partial');
    const listed = await store.list();
    expect(listed.map(({ id, bytes }) => ({ id, bytes }))).toEqual([
      { id, bytes: encodeHeapNode(sampleNode()).bytes.length },
    ]);
    expect(listed[0]!.mtimeMs).toBeGreaterThan(0);
    await store.delete(id);
    await store.delete(id);
    expect(await store.has(id)).toBe(false);
    expect(await new DirHeapStore(join(dir, 'absent')).list()).toEqual([]);
  });

  it('leaves no temporary files behind', async () => {
    const dir = newDir();
    const store = new DirHeapStore(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(sampleNode(String(i % 5)))));
    const files = readdirSync(dir, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(5);
  });
});

describe('heap ids', () => {
  it('do not depend on key order', () => {
    const node = sampleNode();
    const reordered = JSON.parse(
      JSON.stringify({
        modules: node.modules,
        journal: node.journal,
        cell: node.cell,
        parent: null,
        format: 1,
      }),
    ) as typeof node;
    expect(encodeHeapNode(reordered).id).toBe(encodeHeapNode(node).id);
  });

  it('are stable across versions of this code (a pinned vector)', () => {
    expect(encodeHeapNode(sampleNode()).id).toBe(PINNED_ID);
  });
});

// sha256 of {"cell":{"code":"var x = 1; x;","language":"javascript"},"format":1,"journal":[{"kind":"now","value":1700000000000},{"kind":"seed","value":42}],"modules":[],"parent":null}
const PINNED_ID = '470f418601d9e5bb468719bd5dfc1e72dee3ab59c4ab9e9a156b72bf1f44b96f';
