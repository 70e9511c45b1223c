// The embedded session log on a real SQLite file: index assignment (also under concurrent and
// two-connection appends), independent sessions, paging, restarts and index-only lookups.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionLogEntry } from '../../src/core/session-log.ts';
import {
  SESSION_DATABASE_FILE,
  SESSION_MIGRATIONS,
  openSessionDatabase,
} from '../../src/local/session-database.ts';
import type { SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { SESSION_LOG_QUERIES, SqliteSessionLog } from '../../src/local/sqlite-session-log.ts';

let root: string;
let dir: string;
let db: SqliteDatabase;
let log: SqliteSessionLog;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mcpv8-sessions-'));
  dir = join(root, 'nested', 'sessions');
  db = openSessionDatabase(dir);
  log = new SqliteSessionLog(db);
});
afterEach(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

const heap = (n: number): string => n.toString(16).padStart(64, '0');

function cell(n: number): Omit<SessionLogEntry, 'index'> {
  return {
    inputHeap: n === 0 ? null : heap(n - 1),
    outputHeap: heap(n),
    code: `x = ${n}; 'quote\\' 100% ✓ 𝄞'`,
    timestamp: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
  };
}

describe('database', () => {
  it('creates the directory and sessions.db with the session schema only', () => {
    expect(existsSync(join(dir, SESSION_DATABASE_FILE))).toBe(true);
    expect(db.schemaVersion()).toBe(SESSION_MIGRATIONS.length);
    const tables = db.connection
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => r.name);
    expect(tables).toEqual(['heap_tags', 'schema_version', 'session_log']);
  });

  it('refuses a file written by a newer schema', () => {
    db.connection.exec(`INSERT INTO schema_version VALUES (${SESSION_MIGRATIONS.length + 1}, 'later')`);
    db.close();
    expect(() => openSessionDatabase(dir)).toThrow(
      expect.objectContaining({ code: 'MCPV8_ERR_CONFIG_INVALID' }),
    );
    db = openSessionDatabase(dir + '-other'); // for afterEach
  });
});

describe('append', () => {
  it('numbers cells 0, 1, 2 and returns them as stored', async () => {
    const first = await log.append('s', cell(0));
    const second = await log.append('s', cell(1));
    const third = await log.append('s', cell(2));
    expect(first).toEqual({ index: 0, ...cell(0) });
    expect(second).toEqual({ index: 1, ...cell(1) });
    expect(third.index).toBe(2);
    expect(await log.list('s', { offset: 0, limit: 10 })).toEqual([first, second, third]);
  });

  it('gives 50 concurrent appends the indexes 0–49 without gaps or repeats', async () => {
    const entries = await Promise.all(Array.from({ length: 50 }, (_, n) => log.append('s', cell(n))));
    expect(entries.map((e) => e.index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    const listed = await log.list('s', { offset: 0, limit: 100 });
    expect(listed.map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Each cell is stored under the index its append returned.
    for (const e of entries) expect(listed[e.index]).toEqual(e);
  });

  it('keeps indexes consecutive across two connections to the same file', async () => {
    const other = openSessionDatabase(dir);
    try {
      const log2 = new SqliteSessionLog(other);
      const indexes: number[] = [];
      for (let n = 0; n < 10; n++)
        indexes.push((await (n % 2 === 0 ? log : log2).append('s', cell(n))).index);
      expect(indexes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      other.close();
    }
  });

  it('numbers each session independently', async () => {
    await log.append('a', cell(0));
    await log.append('a', cell(1));
    expect((await log.append('b', cell(5))).index).toBe(0);
    expect((await log.append('a', cell(2))).index).toBe(2);
    expect((await log.list('b', { offset: 0, limit: 10 })).map((e) => e.outputHeap)).toEqual([heap(5)]);
  });
});

describe('listing', () => {
  it('lists session names sorted, once each', async () => {
    expect(await log.listSessions()).toEqual([]);
    for (const s of ['zeta', 'Alpha', 'beta', 'zeta', 'sess ✓']) await log.append(s, cell(0));
    expect(await log.listSessions()).toEqual(['Alpha', 'beta', 'sess ✓', 'zeta']);
  });

  it('pages by index', async () => {
    for (let n = 0; n < 7; n++) await log.append('s', cell(n));
    const page = async (offset: number, limit: number) =>
      (await log.list('s', { offset, limit })).map((e) => e.index);
    expect(await page(0, 3)).toEqual([0, 1, 2]);
    expect(await page(3, 3)).toEqual([3, 4, 5]);
    expect(await page(6, 3)).toEqual([6]);
    expect(await page(7, 3)).toEqual([]);
  });

  it('answers an unknown session with no entries', async () => {
    await log.append('s', cell(0));
    expect(await log.list('other', { offset: 0, limit: 10 })).toEqual([]);
  });
});

describe('persistence and plans', () => {
  it('keeps entries across closing and reopening the file, and continues numbering', async () => {
    await log.append('s', cell(0));
    await log.append('s', cell(1));
    db.close();
    db = openSessionDatabase(dir);
    log = new SqliteSessionLog(db);
    expect(await log.listSessions()).toEqual(['s']);
    expect(await log.list('s', { offset: 0, limit: 10 })).toEqual([
      { index: 0, ...cell(0) },
      { index: 1, ...cell(1) },
    ]);
    expect((await log.append('s', cell(2))).index).toBe(2);
  });

  it('answers appends and pages with a primary-key search', () => {
    const plan = (sql: string, ...params: string[]) =>
      db.connection
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((r) => String(r.detail));
    expect(plan(SESSION_LOG_QUERIES.append, 's', 'x', 'x', 'x', 'x')).toEqual([
      expect.stringMatching(/^SEARCH session_log USING COVERING INDEX \S+ \(session=\?\)$/),
    ]);
    expect(plan(SESSION_LOG_QUERIES.list, 's', 'x', 'x')).toEqual([
      expect.stringMatching(/^SEARCH session_log USING INDEX \S+ \(session=\? AND idx>\?\)$/),
    ]);
    // Listing every name reads the key index alone, never the table's rows.
    expect(plan(SESSION_LOG_QUERIES.listSessions)).toEqual([
      expect.stringMatching(/^SCAN session_log USING COVERING INDEX /),
    ]);
  });
});
