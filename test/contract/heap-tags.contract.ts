// The behaviour every HeapTagStore must have: SqliteHeapTagStore in the unit suite,
// KvHeapTagStore against the real NATS server in the integration suite. Replace, delete, AND
// queries in heap order, and awkward keys and values.
import { beforeEach, describe, expect, it } from 'vitest';
import type { HeapTagStore } from '../../src/core/session-log.ts';

export const heap = (c: string): string => c.repeat(64);
const A = heap('a');
const B = heap('b');
const C = heap('c');

/** `open` gives each test fresh, empty storage. */
export function heapTagsContract(name: string, open: () => Promise<HeapTagStore>): void {
  describe(`HeapTagStore contract: ${name}`, () => {
    let tags: HeapTagStore;
    beforeEach(async () => {
      tags = await open();
    });

    describe('get, set and delete', () => {
      it('answers {} for an untagged heap', async () => {
        expect(await tags.get(A)).toEqual({});
      });

      it('replaces every tag of the heap on set, leaving other heaps alone', async () => {
        await tags.set(A, { env: 'dev', owner: 'ann' });
        await tags.set(B, { env: 'prod' });
        await tags.set(A, { env: 'prod', stage: '2' });
        expect(await tags.get(A)).toEqual({ env: 'prod', stage: '2' });
        expect(await tags.get(B)).toEqual({ env: 'prod' });
        await tags.set(A, {});
        expect(await tags.get(A)).toEqual({});
      });

      it('leaves the old tags when a set fails part-way', async () => {
        await tags.set(A, { env: 'dev' });
        // A non-string value is refused (SQLite: the insert throws after the delete ran).
        await expect(tags.set(A, { env: 'prod', bad: {} as unknown as string })).rejects.toThrow();
        expect(await tags.get(A)).toEqual({ env: 'dev' });
      });

      it('deletes the given keys and returns what is left', async () => {
        await tags.set(A, { env: 'dev', owner: 'ann', stage: '2' });
        expect(await tags.delete(A, ['owner', 'missing'])).toEqual({ env: 'dev', stage: '2' });
        expect(await tags.get(A)).toEqual({ env: 'dev', stage: '2' });
        expect(await tags.delete(A, [])).toEqual({ env: 'dev', stage: '2' });
      });

      it('deletes every tag when no keys are given', async () => {
        await tags.set(A, { env: 'dev', owner: 'ann' });
        await tags.set(B, { env: 'dev' });
        expect(await tags.delete(A)).toEqual({});
        expect(await tags.get(A)).toEqual({});
        expect(await tags.get(B)).toEqual({ env: 'dev' });
      });

      it('round-trips keys and values with quotes, percent, underscores and unicode', async () => {
        // fromEntries, so `__proto__` is an ordinary key (an object literal would set the prototype).
        const input = Object.fromEntries([
          ["it's", 'say "hi"; DROP TABLE heap_tags; --'],
          ['100%', '_%_'],
          ['ключ ✓', '𝄞 emoji 🎉'],
          ['__proto__', 'plain tag'],
          ['empty', ''],
        ]);
        await tags.set(A, input);
        expect(await tags.get(A)).toEqual(input);
        expect(Object.keys(await tags.get(A))).toContain('__proto__');
        const found = await tags.query({ "it's": 'say "hi"; DROP TABLE heap_tags; --', '100%': '_%_' }, 10);
        expect(found).toEqual([{ heap: A, tags: input }]);
        expect(Object.keys(found[0]?.tags ?? {})).toContain('__proto__');
        // '%' and '_' are literal, not LIKE wildcards.
        expect(await tags.query({ '100%': '%' }, 10)).toEqual([]);
      });
      it('finds empty, very long and dotted values and keys by exact match', async () => {
        const long = 'v'.repeat(1024);
        const input = { empty: '', long, 'a.b*>': 'x.y >', [`k${'é'.repeat(127)}`]: 'w' };
        await tags.set(A, input);
        await tags.set(B, { empty: 'not empty', long: long.slice(1) });
        expect(await tags.get(A)).toEqual(input);
        for (const [k, v] of Object.entries(input)) {
          expect(await tags.query({ [k]: v }, 10), k).toEqual([{ heap: A, tags: input }]);
        }
        expect(await tags.query({ long: long.slice(1) }, 10)).toEqual([{ heap: B, tags: await tags.get(B) }]);
      });
    });

    describe('query', () => {
      beforeEach(async () => {
        await tags.set(C, { env: 'prod', team: 'x' });
        await tags.set(A, { env: 'prod', team: 'y', tier: '1' });
        await tags.set(B, { env: 'dev', team: 'x' });
      });

      it('matches one pair, in heap order, with each heap’s full tags', async () => {
        expect(await tags.query({ env: 'prod' }, 10)).toEqual([
          { heap: A, tags: { env: 'prod', team: 'y', tier: '1' } },
          { heap: C, tags: { env: 'prod', team: 'x' } },
        ]);
      });

      it('requires every pair (AND)', async () => {
        expect((await tags.query({ env: 'prod', team: 'x' }, 10)).map((r) => r.heap)).toEqual([C]);
        expect((await tags.query({ team: 'x', env: 'dev' }, 10)).map((r) => r.heap)).toEqual([B]);
        expect((await tags.query({ env: 'prod', team: 'y', tier: '1' }, 10)).map((r) => r.heap)).toEqual([A]);
      });

      it('answers [] when nothing matches', async () => {
        expect(await tags.query({ env: 'staging' }, 10)).toEqual([]);
        expect(await tags.query({ env: 'dev', team: 'y' }, 10)).toEqual([]);
        expect(await tags.query({ nokey: 'prod' }, 10)).toEqual([]);
      });

      it('returns every tagged heap for an empty match', async () => {
        await tags.set(heap('d'), {});
        expect((await tags.query({}, 10)).map((r) => r.heap)).toEqual([A, B, C]);
      });

      it('returns at most `limit` heaps, the first in heap order', async () => {
        expect((await tags.query({}, 2)).map((r) => r.heap)).toEqual([A, B]);
        expect((await tags.query({ env: 'prod' }, 1)).map((r) => r.heap)).toEqual([A]);
        expect((await tags.query({ team: 'x' }, 1)).map((r) => r.heap)).toEqual([B]);
      });

      it('stops matching a heap once its tags are replaced or deleted', async () => {
        await tags.set(A, { env: 'dev' });
        await tags.delete(C, ['env']);
        expect(await tags.query({ env: 'prod' }, 10)).toEqual([]);
      });
    });
  });
}
