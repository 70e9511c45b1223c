/**
 * The embedded ExecutionStore: one row per execution in the shared SQLite file, with the
 * columns that are filtered or sorted on indexed and the rest of the record as JSON.
 */
import type { ExecutionStatus } from '../core/api/execution.ts';
import type {
  ExecutionPage,
  ExecutionRecord,
  ExecutionStore,
  ListExecutionsQuery,
} from '../core/execution-store.ts';
import type { SqliteDatabase } from './sqlite-database.ts';
import {
  PageFill,
  assertListLimit,
  decodeListCursor,
  encodeListCursor,
  isIsoTime,
} from '../core/list-page.ts';

export { LIST_LIMIT_MAX } from '../core/list-page.ts';

const TERMINAL: readonly ExecutionStatus[] = ['completed', 'failed', 'cancelled', 'timed_out'];

/** The part of a record kept as JSON (everything not in an indexed column). */
type RecordData = Omit<ExecutionRecord, 'id' | 'namespace' | 'status' | 'createdAt' | 'completedAt'>;

interface Row {
  id: string;
  namespace: string;
  status: string;
  created_at: string;
  completed_at: string | null;
  data: string;
}

const COLUMNS = 'id, namespace, status, created_at, completed_at, data';

/**
 * SQL of the lookups, exported so a test can check with `EXPLAIN QUERY PLAN` that each one is
 * an index search.
 * @internal
 */
export const EXECUTION_STORE_QUERIES = Object.freeze({
  get: `SELECT ${COLUMNS} FROM executions WHERE id = ? AND namespace = ?`,
  listFirst: `SELECT ${COLUMNS} FROM executions WHERE namespace = ?
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  listAfter: `SELECT ${COLUMNS} FROM executions WHERE namespace = ? AND (created_at, id) < (?, ?)
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  listStatusFirst: `SELECT ${COLUMNS} FROM executions WHERE namespace = ? AND status = ?
    ORDER BY created_at DESC, id DESC LIMIT ?`,
  listStatusAfter: `SELECT ${COLUMNS} FROM executions WHERE namespace = ? AND status = ?
    AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
  // Literal statuses, matching the partial index's WHERE (a bound parameter would not).
  listUnfinished: `SELECT ${COLUMNS} FROM executions WHERE status IN ('queued', 'running')
    ORDER BY created_at, id`,
  // `+status`: filter on status but search by completion time (the status index is no help).
  deleteCompletedBefore: `DELETE FROM executions WHERE completed_at < ?
    AND +status IN (${TERMINAL.map(() => '?').join(', ')}) RETURNING id`,
});

/** {@link ExecutionStore} on the shared SQLite file; see {@link openDatabase}. */
export class SqliteExecutionStore implements ExecutionStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async create(record: ExecutionRecord, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const { id, namespace, status, createdAt, completedAt, ...data } = record;
    // A duplicate id violates the primary key: node:sqlite throws (ERR_SQLITE_ERROR, constraint).
    this.#db
      .prepare(`INSERT INTO executions (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(id, namespace, status, createdAt, completedAt ?? null, JSON.stringify(data satisfies RecordData));
  }

  async get(namespace: string, id: string, signal?: AbortSignal): Promise<ExecutionRecord | undefined> {
    signal?.throwIfAborted();
    const row = this.#db.prepare(EXECUTION_STORE_QUERIES.get).get(id, namespace);
    return row === undefined ? undefined : toRecord(row as unknown as Row);
  }

  async transition(
    namespace: string,
    id: string,
    from: readonly ExecutionStatus[],
    patch: Partial<Pick<ExecutionRecord, 'status' | 'startedAt' | 'completedAt' | 'outcome'>>,
    signal?: AbortSignal,
  ): Promise<ExecutionRecord | undefined> {
    signal?.throwIfAborted();
    if (from.length === 0) return undefined;
    // One UPDATE … WHERE status IN (…) is the compare-and-set: no read-modify-write window.
    const sets: string[] = [];
    const args: Array<string | null> = [];
    if (patch.status !== undefined) {
      sets.push('status = ?');
      args.push(patch.status);
    }
    if (patch.completedAt !== undefined) {
      sets.push('completed_at = ?');
      args.push(patch.completedAt);
    }
    const jsonPaths: string[] = [];
    if (patch.startedAt !== undefined) {
      jsonPaths.push("'$.startedAt', ?");
      args.push(patch.startedAt);
    }
    if (patch.outcome !== undefined) {
      // json() so the outcome is stored as an object, not a string holding JSON.
      jsonPaths.push("'$.outcome', json(?)");
      args.push(JSON.stringify(patch.outcome));
    }
    if (jsonPaths.length > 0) sets.push(`data = json_set(data, ${jsonPaths.join(', ')})`);
    // An empty patch still answers whether the record is in one of `from`.
    if (sets.length === 0) sets.push('status = status');
    const sql =
      `UPDATE executions SET ${sets.join(', ')} WHERE id = ? AND namespace = ?` +
      ` AND status IN (${from.map(() => '?').join(', ')}) RETURNING ${COLUMNS}`;
    const row = this.#db.prepare(sql).get(...args, id, namespace, ...from);
    return row === undefined ? undefined : toRecord(row as unknown as Row);
  }

  /** @throws MCPV8_ERR_INPUT_INVALID for a limit outside 1–1000 or a cursor this store did not issue. */
  async list(query: ListExecutionsQuery, signal?: AbortSignal): Promise<ExecutionPage> {
    signal?.throwIfAborted();
    const { namespace, status, limit, cursor } = query;
    assertListLimit(limit);
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const q = EXECUTION_STORE_QUERIES;
    // One row more than asked tells whether another page exists without an extra query.
    const fetch = limit + 1;
    const [sql, args] =
      status === undefined
        ? after === undefined
          ? [q.listFirst, [namespace]]
          : [q.listAfter, [namespace, after[0], after[1]]]
        : after === undefined
          ? [q.listStatusFirst, [namespace, status]]
          : [q.listStatusAfter, [namespace, status, after[0], after[1]]];
    // Row by row, so a page of large records stops at the byte budget without reading the rest.
    const fill = new PageFill<Row>(limit);
    for (const row of this.#db.prepare(sql).iterate(...args, fetch) as Iterable<Row>) {
      // UTF-8 bytes, as the page goes out, not characters (up to 3 bytes each).
      if (!fill.add(row, Buffer.byteLength(row.data))) break;
    }
    const items = fill.items.map(toRecord);
    const last = items.at(-1);
    return fill.more && last !== undefined
      ? { items, nextCursor: encodeCursor(last.createdAt, last.id) }
      : { items };
  }

  async listUnfinished(signal?: AbortSignal): Promise<ExecutionRecord[]> {
    signal?.throwIfAborted();
    const rows = this.#db.prepare(EXECUTION_STORE_QUERIES.listUnfinished).all();
    return (rows as unknown as Row[]).map(toRecord);
  }

  async deleteCompletedBefore(before: string, signal?: AbortSignal): Promise<string[]> {
    signal?.throwIfAborted();
    const rows = this.#db.prepare(EXECUTION_STORE_QUERIES.deleteCompletedBefore).all(before, ...TERMINAL);
    return (rows as unknown as Array<{ id: string }>).map((r) => r.id);
  }
}

function toRecord(row: Row): ExecutionRecord {
  const data = JSON.parse(row.data) as RecordData;
  const record: ExecutionRecord = {
    id: row.id,
    status: row.status as ExecutionStatus,
    code: data.code,
    language: data.language,
    limits: data.limits,
    namespace: row.namespace,
    createdAt: row.created_at,
  };
  if (data.startedAt !== undefined) record.startedAt = data.startedAt;
  if (row.completed_at !== null) record.completedAt = row.completed_at;
  if (data.outcome !== undefined) record.outcome = data.outcome;
  if (data.heap !== undefined) record.heap = data.heap;
  if (data.session !== undefined) record.session = data.session;
  if (data.tags !== undefined) record.tags = data.tags;
  return record;
}

function encodeCursor(createdAt: string, id: string): string {
  return encodeListCursor([createdAt, id]);
}

function decodeCursor(cursor: string): [string, string] {
  return decodeListCursor(cursor, isIsoTime);
}
