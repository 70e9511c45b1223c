// CachedHeapStore over a directory standing in for S3 (the S3 case is in the integration suite):
// the HeapStore contract, then the cache's own promises: bounded LRU, verified copies, restarts,
// and a remote that stays the truth.
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeHeapNode, isMcpv8Error, type HeapStore } from '../../src/core/index.ts';
import { CachedHeapStore } from '../../src/cluster/cached-heap-store.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';
import { heapStoreContract, sampleNode } from '../contract/heap-store.contract.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'heap-cache-'));
  dirs.push(d);
  return d;
};
/** A store whose every operation fails (ENOTDIR), as an unreachable S3 would. */
const brokenRemote = (): HeapStore => {
  const file = join(newDir(), 'not-a-dir');
  writeFileSync(file, '');
  return new DirHeapStore(join(file, 'heaps'));
};
const cacheFile = (dir: string, id: string) => join(dir, id.slice(0, 2), `${id}.json`);
const cachedIds = (dir: string) =>
  readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(-'.json'.length - 64, -'.json'.length))
    .sort();
const cachedBytes = (dir: string) =>
  cachedIds(dir).reduce((sum, id) => sum + statSync(cacheFile(dir, id)).size, 0);

// Nodes of equal encoded size, so a bound of N of them is exact.
const node = (name: string) => sampleNode(`var ${name} = 1;`);
const SIZE = encodeHeapNode(node('a')).bytes.length;
const idOf = (name: string) => encodeHeapNode(node(name)).id;

heapStoreContract(
  'CachedHeapStore',
  async () => new CachedHeapStore({ remote: new DirHeapStore(newDir()), dir: newDir(), maxBytes: 1 << 20 }),
  {
    makeUnavailableStore: async () =>
      new CachedHeapStore({ remote: brokenRemote(), dir: newDir(), maxBytes: 1 << 20 }),
  },
);

describe('CachedHeapStore', () => {
  it('stays within maxBytes, evicting the least recently read heap', async () => {
    const dir = newDir();
    const store = new CachedHeapStore({ remote: new DirHeapStore(newDir()), dir, maxBytes: 3 * SIZE });
    for (const name of ['a', 'b', 'c']) await store.put(node(name));
    await store.get(idOf('a'));
    await store.put(node('d'));
    expect(cachedIds(dir)).toEqual([idOf('a'), idOf('c'), idOf('d')].sort());
    // An evicted heap is still in the remote; reading it caches it again, evicting the next one.
    expect(await store.get(idOf('b'))).toEqual(node('b'));
    expect(cachedIds(dir)).toEqual([idOf('a'), idOf('b'), idOf('d')].sort());
    expect(cachedBytes(dir)).toBeLessThanOrEqual(3 * SIZE);
  });

  it('never caches a heap larger than the whole bound', async () => {
    const dir = newDir();
    const store = new CachedHeapStore({ remote: new DirHeapStore(newDir()), dir, maxBytes: SIZE - 1 });
    const id = await store.put(node('a'));
    expect(await store.get(id)).toEqual(node('a'));
    expect(cachedIds(dir)).toEqual([]);
  });

  it.each([
    ['content of another heap', JSON.stringify(node('evil'))],
    ['garbage', '{"trunc'],
  ])('drops a cached copy holding %s and refetches it from the remote', async (_what, content) => {
    const dir = newDir();
    const errors: unknown[] = [];
    const store = new CachedHeapStore({
      remote: new DirHeapStore(newDir()),
      dir,
      maxBytes: 1 << 20,
      onCacheError: (e) => errors.push(e),
    });
    const id = await store.put(node('a'));
    writeFileSync(cacheFile(dir, id), content);
    expect(await store.get(id)).toEqual(node('a'));
    expect(isMcpv8Error(errors[0], 'MCPV8_ERR_HEAP_CORRUPT')).toBe(true);
    // The copy was replaced by the verified one.
    expect(await new DirHeapStore(dir).get(id)).toEqual(node('a'));
  });

  it('after a restart serves from the cache it left (remote down) and keeps the bound', async () => {
    const dir = newDir();
    const first = new CachedHeapStore({ remote: new DirHeapStore(newDir()), dir, maxBytes: 3 * SIZE });
    for (const name of ['a', 'b', 'c']) await first.put(node(name));
    // Recency after a restart follows modification time: make `b` the oldest.
    const t = Date.now() / 1000;
    for (const [name, age] of [
      ['a', 20],
      ['b', 30],
      ['c', 10],
    ] as const)
      utimesSync(cacheFile(dir, idOf(name)), t - age, t - age);

    const offline = new CachedHeapStore({ remote: brokenRemote(), dir, maxBytes: 3 * SIZE });
    expect(await offline.get(idOf('a'))).toEqual(node('a'));
    expect(await offline.has(idOf('c'))).toBe(true);

    const smaller = new CachedHeapStore({ remote: brokenRemote(), dir, maxBytes: 2 * SIZE });
    expect(await smaller.get(idOf('c'))).toEqual(node('c'));
    expect(cachedIds(dir)).toEqual([idOf('a'), idOf('c')].sort());
    const err = await smaller.get(idOf('b')).catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
  });

  it('caches nothing and throws HEAP_STORE_UNAVAILABLE when the remote put fails', async () => {
    const dir = newDir();
    const store = new CachedHeapStore({ remote: brokenRemote(), dir, maxBytes: 1 << 20 });
    const err = await store.put(node('a')).catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
    expect(cachedIds(dir)).toEqual([]);
    // Nothing cached to answer from: `has` asks the remote, which is down.
    const hasErr = await store.has(idOf('a')).catch((e: unknown) => e);
    expect(isMcpv8Error(hasErr, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
  });

  it('answers from the remote when the cache directory is unusable, reporting it', async () => {
    const errors: unknown[] = [];
    const file = join(newDir(), 'file');
    writeFileSync(file, '');
    const remoteDir = newDir();
    const store = new CachedHeapStore({
      remote: new DirHeapStore(remoteDir),
      dir: join(file, 'cache'),
      maxBytes: 1 << 20,
      onCacheError: (e) => errors.push(e),
    });
    const id = await store.put(node('a'));
    expect(await store.get(id)).toEqual(node('a'));
    expect(await store.has(id)).toBe(true);
    expect(cachedIds(remoteDir)).toEqual([id]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => isMcpv8Error(e, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE'))).toBe(true);
  });

  it('answers has from the cache, then from the remote', async () => {
    const remote = new DirHeapStore(newDir());
    const id = await remote.put(node('r'));
    const store = new CachedHeapStore({ remote, dir: newDir(), maxBytes: 1 << 20 });
    expect(await store.has(id)).toBe(true);
    expect(await store.has(idOf('zz'))).toBe(false);
  });
});
