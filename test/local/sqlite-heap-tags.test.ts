// The embedded heap tag store on a real SQLite file: replace, delete, AND queries in heap
// order, awkward values, restarts, and index searches for every lookup.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSessionDatabase } from '../../src/local/session-database.ts';
import type { SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { HEAP_TAG_QUERIES, SqliteHeapTagStore } from '../../src/local/sqlite-heap-tags.ts';

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

const heap = (c: string): string => c.repeat(64);
const A = heap('a');
const B = heap('b');
const C = heap('c');

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
    // A non-string value cannot be bound: the insert throws after the delete ran.
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
