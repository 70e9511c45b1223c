// The embedded execution store on a real SQLite file: CRUD, compare-and-set transitions,
// keyset paging, retention and survival across a restart.
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

describe('CRUD', () => {
  it('creates and gets a record as given', async () => {
    const r = record('a');
    await store.create(r);
    expect(await store.get('default', 'a')).toStrictEqual(r);
    expect(await store.get('other', 'a')).toBeUndefined();
    expect(await store.get('default', 'missing')).toBeUndefined();
  });

  it('throws on a duplicate id', async () => {
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

  it('honours an aborted signal', async () => {
    await expect(store.get('default', 'a', AbortSignal.abort())).rejects.toThrow();
  });
});

describe('transition', () => {
  it('applies a patch when the status matches', async () => {
    await store.create(record('a'));
    const running = await store.transition('default', 'a', ['queued'], {
      status: 'running',
      startedAt: '2026-01-01T00:00:01.000Z',
    });
    expect(running).toMatchObject({ status: 'running', startedAt: '2026-01-01T00:00:01.000Z' });
    const done = await store.transition('default', 'a', ['running'], {
      status: 'completed',
      completedAt: '2026-01-01T00:00:02.000Z',
      outcome,
    });
    expect(done).toStrictEqual({
      ...record('a'),
      status: 'completed',
      startedAt: '2026-01-01T00:00:01.000Z',
      completedAt: '2026-01-01T00:00:02.000Z',
      outcome,
    });
    expect(await store.get('default', 'a')).toStrictEqual(done);
  });

  it('leaves a cancelled record cancelled when a late report expects running', async () => {
    await store.create(record('a', { status: 'running' }));
    await store.transition('default', 'a', ['queued', 'running'], { status: 'cancelled' });
    const late = await store.transition('default', 'a', ['running'], { status: 'completed', outcome });
    expect(late).toBeUndefined();
    const now = await store.get('default', 'a');
    expect(now?.status).toBe('cancelled');
    expect(now?.outcome).toBeUndefined();
  });

  it('returns undefined for a missing record, another namespace or an empty `from`', async () => {
    await store.create(record('a'));
    expect(await store.transition('default', 'nope', ['queued'], { status: 'running' })).toBeUndefined();
    expect(await store.transition('other', 'a', ['queued'], { status: 'running' })).toBeUndefined();
    expect(await store.transition('default', 'a', [], { status: 'running' })).toBeUndefined();
    expect(await store.transition('default', 'a', ['queued'], {})).toStrictEqual(record('a'));
  });
});

describe('list', () => {
  const ts = (i: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();

  async function seed(): Promise<void> {
    // 250 per namespace; pairs share a timestamp so the id tie-break is exercised.
    for (let i = 0; i < 250; i++) {
      const createdAt = ts(Math.floor(i / 2));
      const status = i % 3 === 0 ? 'completed' : 'queued';
      await store.create(record(`a-${String(i).padStart(3, '0')}`, { namespace: 'ns-a', createdAt, status }));
      await store.create(record(`b-${String(i).padStart(3, '0')}`, { namespace: 'ns-b', createdAt, status }));
    }
  }

  async function all(namespace: string, limit: number, status?: 'completed'): Promise<ExecutionRecord[]> {
    const out: ExecutionRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.list({ namespace, limit, cursor, status });
      expect(page.items.length).toBeLessThanOrEqual(limit);
      out.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined);
    expect(pages).toBe(Math.max(1, Math.ceil(out.length / limit)));
    return out;
  }

  it('pages newest first with cursors, per namespace', async () => {
    await seed();
    for (const ns of ['ns-a', 'ns-b']) {
      const prefix = ns.slice(-1);
      for (const limit of [1, 7, 100, 250, 1000]) {
        const items = await all(ns, limit);
        expect(items).toHaveLength(250);
        expect(items.every((r) => r.namespace === ns && r.id.startsWith(`${prefix}-`))).toBe(true);
        const expected = Array.from(
          { length: 250 },
          (_, i) => `${prefix}-${String(249 - i).padStart(3, '0')}`,
        );
        expect(items.map((r) => r.id)).toEqual(expected);
      }
    }
    expect(await store.list({ namespace: 'ns-c', limit: 10 })).toEqual({ items: [] });
  });

  it('filters by status', async () => {
    await seed();
    const items = await all('ns-a', 30, 'completed');
    expect(items).toHaveLength(84);
    expect(items.every((r) => r.status === 'completed' && r.namespace === 'ns-a')).toBe(true);
  });

  it('validates limit and cursor', async () => {
    for (const limit of [0, 1001, 1.5, -1, Number.NaN]) {
      await expect(store.list({ namespace: 'default', limit })).rejects.toThrow(RangeError);
    }
    await expect(store.list({ namespace: 'default', limit: 10, cursor: 'garbage!' })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('unfinished and retention', () => {
  it('lists unfinished records of every namespace', async () => {
    await store.create(record('q', { status: 'queued', namespace: 'x' }));
    await store.create(record('r', { status: 'running' }));
    await store.create(record('c', { status: 'completed', completedAt: '2026-01-01T00:00:05.000Z' }));
    expect((await store.listUnfinished()).map((r) => r.id).sort()).toEqual(['q', 'r']);
  });

  it('deletes terminal records completed before a time and returns their ids', async () => {
    await store.create(record('old', { status: 'failed', completedAt: '2026-01-01T00:00:00.000Z' }));
    await store.create(record('new', { status: 'completed', completedAt: '2026-01-03T00:00:00.000Z' }));
    await store.create(record('live', { status: 'running' }));
    expect(await store.deleteCompletedBefore('2026-01-02T00:00:00.000Z')).toEqual(['old']);
    expect(await store.get('default', 'old')).toBeUndefined();
    expect(await store.get('default', 'new')).toBeDefined();
    expect(await store.deleteCompletedBefore('2026-01-02T00:00:00.000Z')).toEqual([]);
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
