// The embedded output log on a real SQLite file: the OutputLog contract (on a file and in
// memory), plus restarts of the file and index-only lookups however much an execution printed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MEMORY_DATABASE, openDatabase, type SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { OUTPUT_LOG_QUERIES, SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';
import { lines, outputLogContract } from '../contract/output-log.contract.ts';

const opened: Array<{ db: SqliteDatabase; dir?: string }> = [];
afterAll(() => {
  for (const { db, dir } of opened.splice(0)) {
    db.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
});

outputLogContract('SqliteOutputLog', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpv8-output-'));
  const file = join(dir, 'mcpv8.db');
  const db = openDatabase(file);
  opened.push({ db, dir });
  return {
    log: new SqliteOutputLog(db),
    reopen: async () => {
      // A second connection to the same file: no tail cache shared with the first.
      const other = openDatabase(file);
      opened.push({ db: other });
      return new SqliteOutputLog(other);
    },
  };
});

outputLogContract('SqliteOutputLog (in memory)', async () => {
  const db = openDatabase(MEMORY_DATABASE);
  opened.push({ db });
  // An in-memory database has one connection: a fresh instance on it is the "restart".
  return { log: new SqliteOutputLog(db), reopen: async () => new SqliteOutputLog(db) };
});

let dir: string;
let file: string;
let db: SqliteDatabase;
let log: SqliteOutputLog;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpv8-output-'));
  file = join(dir, 'mcpv8.db');
  db = openDatabase(file);
  log = new SqliteOutputLog(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('durability and cost', () => {
  it('keeps output across a restart and continues the indexes after it', async () => {
    await log.append('e', lines('é1', 'line2'));
    db.close();
    db = openDatabase(file);
    log = new SqliteOutputLog(db);
    await log.append('e', lines('😀3'));
    const p = await log.read('e', { mode: 'lines', offset: 0, limit: 10 });
    expect(p.text).toBe('é1\nline2\n😀3\n');
    expect(p.lines.map((l) => l.index)).toEqual([0, 1, 2]);
    expect(p.totalBytes).toBe(4 + 6 + 6);
    const tail = await log.read('e', { mode: 'bytes', offset: 10, limit: 100 });
    expect(tail).toMatchObject({ text: '😀3\n', lineOffset: 2, nextLineOffset: 3 });
  });

  it('reads the end of 100k lines through the indexes only', async () => {
    const batch = Array.from({ length: 1000 }, (_, i) => ({ level: 'log' as const, text: `l${i} é` }));
    for (let i = 0; i < 100; i++) await log.append('big', batch);
    await log.append('small', lines('x'));
    // A fresh instance re-seeds its tail from the DB, as after a restart.
    log = new SqliteOutputLog(db);
    const byLines = await log.read('big', { mode: 'lines', offset: 99_998, limit: 10 });
    expect(byLines).toMatchObject({ text: 'l998 é\nl999 é\n', totalLines: 100_000, hasMore: false });
    const end = byLines.totalBytes;
    const byBytes = await log.read('big', { mode: 'bytes', offset: end - 8, limit: 100 });
    expect(byBytes).toMatchObject({ text: 'l999 é\n', lineOffset: 99_999, nextLineOffset: 100_000 });

    // Every lookup is an index search bounded by the execution id (and a line or byte range);
    // none scans the table.
    for (const [name, sql] of Object.entries(OUTPUT_LOG_QUERIES)) {
      if (name === 'insert') continue;
      const params = (sql.match(/\?/g) ?? []).map(() => 1);
      params[0] = 'big' as unknown as number;
      const plan = db.connection
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((r) => String(r.detail));
      const why = `${name}: ${plan.join('; ')}`;
      expect(plan.length, why).toBeGreaterThan(0);
      expect(
        plan.every((d) => /^SEARCH output_lines USING (COVERING )?INDEX \S+ \(execution_id=\?/.test(d)),
        why,
      ).toBe(true);
    }
    expect(
      db.connection
        .prepare(`EXPLAIN QUERY PLAN ${OUTPUT_LOG_QUERIES.linesByByte}`)
        .all('big', 1, 2)
        .map((r) => String(r.detail)),
    ).toEqual([
      expect.stringMatching(/output_lines_by_byte \(execution_id=\? AND byte_start>\? AND byte_start<\?\)/),
    ]);
  });
});
