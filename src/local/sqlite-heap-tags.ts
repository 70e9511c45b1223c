/**
 * The embedded HeapTagStore: one row per (heap, key) in the sessions file, with an index on
 * (key, value, heap) so a tag query starts from the heaps carrying one pair, in heap order.
 */
import type { HeapId } from '../core/api/heap-id.ts';
import type { HeapTags, HeapTagStore } from '../core/session-log.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface TagRow {
  heap: string;
  key: string;
  value: string;
}

/**
 * The heaps carrying every one of `pairs` pairs, in heap order, at most `?` (the last
 * parameter); binds `key, value` per pair. The first pair drives the index search and each
 * other pair is one primary-key probe, so the LIMIT stops the search early.
 */
function matchingHeaps(pairs: number): string {
  if (pairs === 0) return 'SELECT DISTINCT heap FROM heap_tags ORDER BY heap LIMIT ?';
  const others = Array.from(
    { length: pairs - 1 },
    () => 'AND EXISTS (SELECT 1 FROM heap_tags o WHERE o.heap = t.heap AND o.key = ? AND o.value = ?)',
  );
  return [
    'SELECT t.heap FROM heap_tags t WHERE t.key = ? AND t.value = ?',
    ...others,
    'ORDER BY t.heap LIMIT ?',
  ].join(' ');
}

/**
 * SQL of the statements, exported so a test can check with `EXPLAIN QUERY PLAN` that each one
 * is an index search.
 * @internal
 */
export const HEAP_TAG_QUERIES = Object.freeze({
  get: 'SELECT key, value FROM heap_tags WHERE heap = ? ORDER BY key',
  deleteAll: 'DELETE FROM heap_tags WHERE heap = ?',
  deleteKey: 'DELETE FROM heap_tags WHERE heap = ? AND key = ?',
  insert: 'INSERT INTO heap_tags (heap, key, value) VALUES (?, ?, ?)',
  /** The matching heaps with all their tags, for a match of `pairs` pairs (0: every tagged heap). */
  query: (pairs: number): string =>
    `SELECT heap, key, value FROM heap_tags WHERE heap IN (${matchingHeaps(pairs)}) ORDER BY heap, key`,
});

/** {@link HeapTagStore} on the sessions file; see `openSessionDatabase`. */
export class SqliteHeapTagStore implements HeapTagStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async get(heap: HeapId): Promise<HeapTags> {
    return this.#get(heap);
  }

  async set(heap: HeapId, tags: HeapTags): Promise<void> {
    this.#db.transaction(() => {
      this.#db.prepare(HEAP_TAG_QUERIES.deleteAll).run(heap);
      const insert = this.#db.prepare(HEAP_TAG_QUERIES.insert);
      for (const [key, value] of Object.entries(tags)) insert.run(heap, key, value);
    });
  }

  async delete(heap: HeapId, keys?: readonly string[]): Promise<HeapTags> {
    return this.#db.transaction(() => {
      if (keys === undefined) {
        this.#db.prepare(HEAP_TAG_QUERIES.deleteAll).run(heap);
      } else {
        const del = this.#db.prepare(HEAP_TAG_QUERIES.deleteKey);
        for (const key of keys) del.run(heap, key);
      }
      return this.#get(heap);
    });
  }

  async query(match: HeapTags, limit: number): Promise<Array<{ heap: HeapId; tags: HeapTags }>> {
    const pairs = Object.entries(match);
    const rows = this.#db
      .prepare(HEAP_TAG_QUERIES.query(pairs.length))
      .all(...pairs.flat(), limit) as unknown as TagRow[];
    // Rows come grouped by heap, in heap order: fold each run into one result.
    const groups: Array<{ heap: HeapId; pairs: Array<[string, string]> }> = [];
    for (const row of rows) {
      let last = groups.at(-1);
      if (last?.heap !== row.heap) {
        last = { heap: row.heap, pairs: [] };
        groups.push(last);
      }
      last.pairs.push([row.key, row.value]);
    }
    // fromEntries defines properties, so a key such as `__proto__` stays an ordinary tag.
    return groups.map((g) => ({ heap: g.heap, tags: Object.fromEntries(g.pairs) }));
  }

  #get(heap: HeapId): HeapTags {
    const rows = this.#db.prepare(HEAP_TAG_QUERIES.get).all(heap) as unknown as TagRow[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }
}
