/**
 * The embedded mode's SQLite files: one connection, WAL journal, a busy timeout, and ordered,
 * idempotent schema migrations recorded in a version table. The executions file (under the data
 * dir, shared by the execution store and the output log) uses {@link EXECUTION_MIGRATIONS};
 * other files pass their own list.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Mcpv8Error } from '../core/errors.ts';

/** Path of an in-memory database (tests; nothing survives `close`). */
export const MEMORY_DATABASE = ':memory:';

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** How long a statement waits for a lock held by another connection before failing. */
  busyTimeoutMs?: number;
  /** The file's schema steps; {@link EXECUTION_MIGRATIONS} when absent. */
  migrations?: readonly Migration[];
}

/** One schema step; `version`s are consecutive from 1 and a step is never edited once shipped. */
export interface Migration {
  version: number;
  sql: string;
}

/** Schema of the executions file (executions and their output lines). */
export const EXECUTION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE executions (
        id TEXT NOT NULL PRIMARY KEY,
        namespace TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        completed_at TEXT,
        data TEXT NOT NULL
      );
      CREATE INDEX executions_by_namespace ON executions (namespace, created_at, id);
      CREATE INDEX executions_by_status ON executions (namespace, status, created_at, id);
      -- Partial: stays as small as the number of live executions.
      CREATE INDEX executions_unfinished ON executions (created_at, id) WHERE status IN ('queued', 'running');
      CREATE INDEX executions_by_completion ON executions (completed_at);

      CREATE TABLE output_lines (
        execution_id TEXT NOT NULL,
        line_index INTEGER NOT NULL,
        byte_start INTEGER NOT NULL,
        level TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (execution_id, line_index)
      );
      CREATE INDEX output_lines_by_byte ON output_lines (execution_id, byte_start);
    `,
  },
];

/** The executions file's schema version this build writes. */
export const SCHEMA_VERSION = EXECUTION_MIGRATIONS.length;

/**
 * One open SQLite connection with a prepared-statement cache and a transaction helper.
 * node:sqlite is synchronous, so a JS call holding the connection cannot be interleaved with
 * another; transactions therefore only need to guard against errors and other processes.
 */
export class SqliteDatabase {
  /** The underlying connection (for queries the helpers do not cover, and tests). */
  readonly connection: DatabaseSync;
  readonly path: string;
  readonly #statements = new Map<string, StatementSync>();

  constructor(connection: DatabaseSync, path: string) {
    this.connection = connection;
    this.path = path;
  }

  /** A prepared statement for `sql`, prepared once per connection. */
  prepare(sql: string): StatementSync {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.connection.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  /**
   * Runs `fn` in a transaction (a savepoint when one is already open), committing on return
   * and rolling back on throw. `fn` must be synchronous: an await would let other calls run
   * inside the transaction.
   */
  transaction<T>(fn: () => T): T {
    if (this.connection.isTransaction) {
      this.connection.exec('SAVEPOINT nested');
      try {
        const result = fn();
        this.connection.exec('RELEASE nested');
        return result;
      } catch (err) {
        this.connection.exec('ROLLBACK TO nested; RELEASE nested');
        throw err;
      }
    }
    // IMMEDIATE takes the write lock up front, so a busy database fails (after the busy
    // timeout) before any work rather than at commit.
    this.connection.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.connection.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.connection.isTransaction) this.connection.exec('ROLLBACK');
      throw err;
    }
  }

  /** The schema version recorded in the file. */
  schemaVersion(): number {
    const row = this.prepare('SELECT MAX(version) AS v FROM schema_version').get();
    return typeof row?.v === 'number' ? row.v : 0;
  }

  get isOpen(): boolean {
    return this.connection.isOpen;
  }

  /** Closes the connection; idempotent. */
  close(): void {
    this.#statements.clear();
    if (this.connection.isOpen) this.connection.close();
  }
}

/**
 * Opens (creating if needed, with its parent directories) the SQLite file at `path`, or an
 * in-memory database for {@link MEMORY_DATABASE}, and brings its schema up to date with
 * `opts.migrations`.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID when the file was written by a newer version.
 */
export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): SqliteDatabase {
  if (path !== MEMORY_DATABASE) mkdirSync(dirname(path), { recursive: true });
  const connection = new DatabaseSync(path);
  const db = new SqliteDatabase(connection, path);
  try {
    connection.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
    // WAL: readers never block the writer; NORMAL sync is durable against process crashes,
    // which is what the store must survive (a power cut may lose the last transactions).
    connection.exec('PRAGMA journal_mode = WAL');
    connection.exec('PRAGMA synchronous = NORMAL');
    migrate(db, opts.migrations ?? EXECUTION_MIGRATIONS);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  const latest = migrations.length;
  db.connection.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  // One write transaction, so two processes opening the same new file do not both migrate.
  db.transaction(() => {
    const current = db.schemaVersion();
    if (current > latest) {
      throw new Mcpv8Error(
        'MCPV8_ERR_CONFIG_INVALID',
        [`database ${db.path} has schema version ${current}, newer than this build's ${latest}`],
        { details: { path: db.path, schemaVersion: current, supported: latest } },
      );
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.connection.exec(m.sql);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(
        m.version,
        new Date().toISOString(),
      );
    }
  });
}
