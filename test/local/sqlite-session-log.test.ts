// The embedded session log on a real SQLite file: the SessionLog contract (a second
// connection to the file is the second instance), plus the file's schema, restarts and
// index-only lookups.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SESSION_DATABASE_FILE,
  SESSION_MIGRATIONS,
  openSessionDatabase,
} from '../../src/local/session-database.ts';
import type { SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { SESSION_LOG_QUERIES, SqliteSessionLog } from '../../src/local/sqlite-session-log.ts';
import { cell, sessionLogContract } from '../contract/session-log.contract.ts';

const opened: SqliteDatabase[] = [];
const roots: string[] = [];
afterAll(() => {
  for (const d of opened.splice(0)) d.close();
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

sessionLogContract('SqliteSessionLog', async () => {
  const r = mkdtempSync(join(tmpdir(), 'mcpv8-sessions-'));
  roots.push(r);
  const open = () => {
    const d = openSessionDatabase(join(r, 'sessions'));
    opened.push(d);
    return new SqliteSessionLog(d);
  };
  return { log: open(), other: async () => open() };
});

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
