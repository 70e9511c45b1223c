/**
 * The embedded SessionLog: one row per committed cell in the sessions file, keyed by
 * (session, index) so appending and paging are primary-key lookups.
 */
import type { SessionLog, SessionLogEntry } from '../core/session-log.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface Row {
  idx: number;
  input_heap: string | null;
  output_heap: string;
  code: string;
  timestamp: string;
}

const COLUMNS = 'idx, input_heap, output_heap, code, timestamp';

/**
 * SQL of the statements, exported so a test can check with `EXPLAIN QUERY PLAN` that each one
 * is an index search.
 * @internal
 */
export const SESSION_LOG_QUERIES = Object.freeze({
  // One statement reads the last index and inserts the next under the write lock, so two
  // appends (even from two processes) cannot take the same index.
  append: `INSERT INTO session_log (session, idx, input_heap, output_heap, code, timestamp)
    SELECT ?1, COALESCE(MAX(idx) + 1, 0), ?2, ?3, ?4, ?5 FROM session_log WHERE session = ?1
    RETURNING ${COLUMNS}`,
  // Indexes have no gaps, so the offset is an index: a range search rather than OFFSET's skip.
  list: `SELECT ${COLUMNS} FROM session_log WHERE session = ? AND idx >= ? ORDER BY idx LIMIT ?`,
  // Reads the primary key's index only (no table rows), once per entry.
  listSessions: `SELECT DISTINCT session FROM session_log ORDER BY session`,
});

/** {@link SessionLog} on the sessions file; see `openSessionDatabase`. */
export class SqliteSessionLog implements SessionLog {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async append(session: string, entry: Omit<SessionLogEntry, 'index'>): Promise<SessionLogEntry> {
    const row = this.#db
      .prepare(SESSION_LOG_QUERIES.append)
      .get(session, entry.inputHeap, entry.outputHeap, entry.code, entry.timestamp);
    return toEntry(row as unknown as Row);
  }

  async listSessions(): Promise<string[]> {
    const rows = this.#db.prepare(SESSION_LOG_QUERIES.listSessions).all();
    return (rows as unknown as Array<{ session: string }>).map((r) => r.session);
  }

  async list(session: string, page: { offset: number; limit: number }): Promise<SessionLogEntry[]> {
    const rows = this.#db.prepare(SESSION_LOG_QUERIES.list).all(session, page.offset, page.limit);
    return (rows as unknown as Row[]).map(toEntry);
  }
}

function toEntry(row: Row): SessionLogEntry {
  return {
    index: row.idx,
    inputHeap: row.input_heap,
    outputHeap: row.output_heap,
    code: row.code,
    timestamp: row.timestamp,
  };
}
