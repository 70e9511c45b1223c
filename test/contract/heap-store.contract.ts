// The behaviour every HeapStore must have: DirHeapStore and CachedHeapStore in the unit suite,
// S3HeapStore and CachedHeapStore over S3 in the integration suite.
import { describe, expect, it } from 'vitest';
import { encodeHeapNode, isMcpv8Error, type HeapNode, type HeapStore } from '../../src/core/index.ts';

export const sampleNode = (code = 'var x = 1; x;', parent: string | null = null): HeapNode => ({
  format: 1,
  parent,
  cell: { code, language: 'javascript' },
  journal: [
    { kind: 'now', value: 1_700_000_000_000 },
    { kind: 'seed', value: 42 },
  ],
  modules: [],
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (isMcpv8Error(err)) return err.code;
    throw err;
  }
}

export interface HeapStoreContractOptions {
  /** A store whose backing storage fails (unreachable server, a path that cannot be a directory). */
  makeUnavailableStore?: () => Promise<HeapStore>;
}

export function heapStoreContract(
  name: string,
  makeStore: () => Promise<HeapStore>,
  opts: HeapStoreContractOptions = {},
): void {
  describe(`HeapStore contract: ${name}`, () => {
    it('stores a node under the SHA-256 of its canonical encoding and reads it back', async () => {
      const store = await makeStore();
      const node = sampleNode();
      const id = await store.put(node);
      expect(id).toBe(encodeHeapNode(node).id);
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect(await store.get(id)).toEqual(node);
      expect(await store.has(id)).toBe(true);
    });

    it('is idempotent: the same node twice is one heap', async () => {
      const store = await makeStore();
      const a = await store.put(sampleNode('1'));
      const b = await store.put(sampleNode('1'));
      expect(a).toBe(b);
    });

    it('gives different ids to different cells and to the same cell on different parents', async () => {
      const store = await makeStore();
      const root = await store.put(sampleNode('var a = 1'));
      const child = await store.put(sampleNode('a + 1', root));
      const other = await store.put(sampleNode('a + 1', null));
      expect(new Set([root, child, other]).size).toBe(3);
      expect((await store.get(child)).parent).toBe(root);
    });

    it('rejects a malformed id before any lookup, and an unknown id as not found', async () => {
      const store = await makeStore();
      expect(await codeOf(store.get('../../etc/passwd'))).toBe('MCPV8_ERR_HEAP_ID_INVALID');
      expect(await codeOf(store.get('ABC'))).toBe('MCPV8_ERR_HEAP_ID_INVALID');
      expect(await codeOf(store.get('0'.repeat(64)))).toBe('MCPV8_ERR_HEAP_NOT_FOUND');
      expect(await store.has('0'.repeat(64))).toBe(false);
    });

    it.runIf(opts.makeUnavailableStore)(
      'reports a failing backing storage as HEAP_STORE_UNAVAILABLE (retryable), never as not found',
      async () => {
        for (const err of await errorsOfEveryOperation(await opts.makeUnavailableStore!())) {
          expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
          expect(err).toMatchObject({ statusCode: 503, retryable: true });
          expect((err as Error).cause).toBeDefined();
        }
      },
    );

    it.runIf(opts.makeUnavailableStore)('checks ids before any I/O, even with the storage down', async () => {
      const store = await opts.makeUnavailableStore!();
      expect(await codeOf(store.get('../x'))).toBe('MCPV8_ERR_HEAP_ID_INVALID');
      expect(await codeOf(store.has('0'.repeat(63)))).toBe('MCPV8_ERR_HEAP_ID_INVALID');
    });
  });
}

/** What put, get and has of `store` each throw (undefined for one that succeeds). */
export async function errorsOfEveryOperation(store: HeapStore): Promise<unknown[]> {
  const ops = [
    () => store.put(sampleNode()),
    () => store.get('1'.repeat(64)),
    () => store.has('1'.repeat(64)),
  ];
  return Promise.all(
    ops.map((op) =>
      op().then(
        () => undefined,
        (e: unknown) => e,
      ),
    ),
  );
}
