/**
 * The sessions file: `sessions.db` in the `--session-db-path` directory, holding the session log
 * and heap tags. Kept apart from the executions file so the two can live (and be wiped) apart.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  openDatabase,
  type Migration,
  type OpenDatabaseOptions,
  type SqliteDatabase,
} from './sqlite-database.ts';

/** Name of the SQLite file inside the session directory. */
export const SESSION_DATABASE_FILE = 'sessions.db';

/** Schema of the sessions file (`SqliteSessionLog`, `SqliteHeapTagStore`). */
export const SESSION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      -- The primary key is the lookup: next index per session, and paging by index.
      CREATE TABLE session_log (
        session TEXT NOT NULL,
        idx INTEGER NOT NULL,
        input_heap TEXT,
        output_heap TEXT NOT NULL,
        code TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        PRIMARY KEY (session, idx)
      );

      -- Small rows looked up by key: WITHOUT ROWID stores them in the primary key's tree.
      CREATE TABLE heap_tags (
        heap TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (heap, key)
      ) WITHOUT ROWID;
      -- Tag queries: the heaps with one pair, already in heap order.
      CREATE INDEX heap_tags_by_pair ON heap_tags (key, value, heap);
    `,
  },
];

/**
 * Opens (creating the directory and file if needed) `<dir>/sessions.db` with the session schema.
 * Callers build a `SqliteSessionLog` and a `SqliteHeapTagStore` on the result.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID when the file was written by a newer version.
 */
export function openSessionDatabase(
  dir: string,
  opts: Omit<OpenDatabaseOptions, 'migrations'> = {},
): SqliteDatabase {
  mkdirSync(dir, { recursive: true });
  return openDatabase(join(dir, SESSION_DATABASE_FILE), { ...opts, migrations: SESSION_MIGRATIONS });
}
