// The embedded heap tag store on a real SQLite file: the HeapTagStore contract, plus restarts
// and index searches for every lookup.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSessionDatabase } from '../../src/local/session-database.ts';
import type { SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { HEAP_TAG_QUERIES, SqliteHeapTagStore } from '../../src/local/sqlite-heap-tags.ts';
import { heap, heapTagsContract } from '../contract/heap-tags.contract.ts';

const opened: Array<{ db: SqliteDatabase; dir: string }> = [];
afterAll(() => {
  for (const o of opened.splice(0)) {
    o.db.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
});

heapTagsContract('SqliteHeapTagStore', async () => {
  const d = mkdtempSync(join(tmpdir(), 'mcpv8-tags-'));
  const database = openSessionDatabase(d);
  opened.push({ db: database, dir: d });
  return new SqliteHeapTagStore(database);
});

let dir: string;
let db: SqliteDatabase;
let tags: SqliteHeapTagStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpv8-tags-'));
  db = openSessionDatabase(dir);
  tags = new SqliteHeapTagStore(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const A = heap('a');

describe('persistence and plans', () => {
  it('keeps tags across closing and reopening the file', async () => {
    await tags.set(A, { env: 'prod', ключ: '✓' });
    db.close();
    db = openSessionDatabase(dir);
    tags = new SqliteHeapTagStore(db);
    expect(await tags.get(A)).toEqual({ env: 'prod', ключ: '✓' });
    expect(await tags.query({ ключ: '✓' }, 10)).toEqual([{ heap: A, tags: { env: 'prod', ключ: '✓' } }]);
  });

  it('answers lookups and queries with index searches', () => {
    const plan = (sql: string) =>
      db.connection
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...(sql.match(/\?/g) ?? []).map(() => 'x'))
        .map((r) => String(r.detail));
    for (const sql of [HEAP_TAG_QUERIES.get, HEAP_TAG_QUERIES.deleteAll, HEAP_TAG_QUERIES.deleteKey]) {
      expect(plan(sql), sql).toEqual([expect.stringMatching(/^SEARCH heap_tags USING PRIMARY KEY /)]);
    }
    for (const pairs of [1, 2, 5]) {
      const detail = plan(HEAP_TAG_QUERIES.query(pairs));
      const why = `${pairs} pairs: ${detail.join('; ')}`;
      // The first pair is searched in the (key, value, heap) index; the rest are key probes.
      expect(detail, why).toContain('SEARCH t USING COVERING INDEX heap_tags_by_pair (key=? AND value=?)');
      expect(
        detail.filter((d) => d.startsWith('SCAN') || d.includes('TEMP B-TREE')),
        why,
      ).toEqual([]);
    }
  });
});
