// The embedded execution store on a real SQLite file: the ExecutionStore contract (CRUD,
// compare-and-set transitions, keyset paging, retention), plus what only SQLite has: the
// database file, its migrations, survival across a restart and index-only query plans.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecutionRecord } from '../../src/core/execution-store.ts';
import {
  MEMORY_DATABASE,
  SCHEMA_VERSION,
  openDatabase,
  type SqliteDatabase,
} from '../../src/local/sqlite-database.ts';
import { EXECUTION_STORE_QUERIES, SqliteExecutionStore } from '../../src/local/sqlite-execution-store.ts';
import { executionStoreContract } from '../contract/execution-store.contract.ts';

executionStoreContract('SqliteExecutionStore', async () => {
  const fixtureDir = mkdtempSync(join(tmpdir(), 'mcpv8-store-contract-'));
  const fixtureDb = openDatabase(join(fixtureDir, 'mcpv8.db'));
  return {
    store: new SqliteExecutionStore(fixtureDb),
    namespace: (name) => name,
    dispose: async () => {
      fixtureDb.close();
      rmSync(fixtureDir, { recursive: true, force: true });
    },
  };
});

let dir: string;
let file: string;
let db: SqliteDatabase;
let store: SqliteExecutionStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpv8-store-'));
  file = join(dir, 'data', 'mcpv8.db');
  db = openDatabase(file);
  store = new SqliteExecutionStore(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function record(id: string, over: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id,
    status: 'queued',
    code: `console.log(${JSON.stringify(id)})`,
    language: 'javascript',
    limits: { heapMemoryMaxMb: 32, timeoutSeconds: 10 },
    namespace: 'default',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

const outcome = {
  status: 'completed',
  result: '2',
  resultType: 'number',
  effectiveHeapMb: 32,
  durationMs: 3,
  outputBytes: 0,
  outputTruncated: false,
} as const;

describe('database', () => {
  it('creates the file under the data dir in WAL mode with the current schema', () => {
    expect(db.connection.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(db.schemaVersion()).toBe(SCHEMA_VERSION);
  });

  it('migrates idempotently when reopened', () => {
    db.close();
    db = openDatabase(file);
    expect(db.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(db.connection.prepare('SELECT COUNT(*) AS n FROM schema_version').get()).toEqual({
      n: SCHEMA_VERSION,
    });
  });

  it('refuses a file written by a newer schema', () => {
    db.connection.exec(`INSERT INTO schema_version VALUES (${SCHEMA_VERSION + 1}, 'later')`);
    db.close();
    expect(() => openDatabase(file)).toThrow(expect.objectContaining({ code: 'MCPV8_ERR_CONFIG_INVALID' }));
    db = openDatabase(MEMORY_DATABASE); // for afterEach
  });
});

describe('SQLite specifics', () => {
  it('reports a duplicate id as a UNIQUE constraint violation', async () => {
    await store.create(record('a'));
    await expect(store.create(record('a', { code: 'other' }))).rejects.toThrow(/UNIQUE/);
    expect((await store.get('default', 'a'))?.code).toBe('console.log("a")');
  });

  it('works on an in-memory database', async () => {
    const mem = openDatabase(MEMORY_DATABASE);
    try {
      const s = new SqliteExecutionStore(mem);
      await s.create(record('m'));
      expect((await s.get('default', 'm'))?.id).toBe('m');
    } finally {
      mem.close();
    }
  });

  it('keeps the outcome exactly as given', async () => {
    await store.create(record('a', { status: 'running' }));
    const done = await store.transition('default', 'a', ['running'], { status: 'completed', outcome });
    expect(done?.outcome).toStrictEqual(outcome);
  });
});

describe('persistence and plans', () => {
  it('keeps records across closing and reopening the file', async () => {
    await store.create(record('a'));
    await store.transition('default', 'a', ['queued'], { status: 'running', startedAt: 'x' });
    db.close();
    db = openDatabase(file);
    store = new SqliteExecutionStore(db);
    expect(await store.get('default', 'a')).toMatchObject({ status: 'running', startedAt: 'x' });
    expect((await store.listUnfinished()).map((r) => r.id)).toEqual(['a']);
  });

  it('answers every lookup with an index search', () => {
    for (const [name, sql] of Object.entries(EXECUTION_STORE_QUERIES)) {
      const params = (sql.match(/\?/g) ?? []).map(() => 'x');
      const plan = db.connection
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((r) => String(r.detail));
      const why = `${name}: ${plan.join('; ')}`;
      if (name === 'listUnfinished') {
        // Reading the whole partial index is the point: it holds only the live executions.
        expect(plan, why).toEqual(['SCAN executions USING INDEX executions_unfinished']);
        continue;
      }
      expect(
        plan.some((d) => d.startsWith('SEARCH')),
        why,
      ).toBe(true);
      expect(
        plan.some((d) => d.startsWith('SCAN')),
        why,
      ).toBe(false);
    }
  });
});
