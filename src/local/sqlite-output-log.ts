/**
 * The embedded OutputLog: one row per line in the shared SQLite file, keyed by line index and
 * indexed by byte position, so a page in either coordinate system is an index search whose
 * cost depends on the page, not on how much the execution printed.
 */
import type { OutputLevel } from '../core/api/execution.ts';
import type { OutputLine, OutputLog, OutputPage, OutputRange } from '../core/execution-store.ts';
import {
  assertOutputRange,
  bytePage,
  PAGE_MAX_LINES,
  emptyPage,
  fetchEnd,
  linePage,
  type OutputTail,
  type StoredLine,
} from '../core/output-page.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/**
 * SQL of the lookups, exported so a test can check with `EXPLAIN QUERY PLAN` that each one is
 * an index search.
 * @internal
 */
export const OUTPUT_LOG_QUERIES = Object.freeze({
  tail: `SELECT line_index, byte_start, octet_length(text) AS len FROM output_lines
    WHERE execution_id = ? ORDER BY line_index DESC LIMIT 1`,
  insert:
    'INSERT INTO output_lines (execution_id, line_index, byte_start, level, text) VALUES (?, ?, ?, ?, ?)',
  linesByIndex: `SELECT line_index, byte_start, level, text FROM output_lines
    WHERE execution_id = ? AND line_index >= ? AND line_index < ? ORDER BY line_index`,
  lineAtByte: `SELECT byte_start FROM output_lines
    WHERE execution_id = ? AND byte_start <= ? ORDER BY byte_start DESC LIMIT 1`,
  linesByByte: `SELECT line_index, byte_start, level, text FROM output_lines
    WHERE execution_id = ? AND byte_start >= ? AND byte_start < ? ORDER BY byte_start LIMIT ?`,
  delete: 'DELETE FROM output_lines WHERE execution_id = ?',
});

/** Executions whose tail is remembered; the rest are re-read from the DB (one indexed query). */
const TAIL_CACHE_SIZE = 1024;
type Tail = OutputTail;

interface LineRow {
  line_index: number;
  byte_start: number;
  level: string;
  text: string;
}

/**
 * {@link OutputLog} on the shared SQLite file; see {@link openDatabase}. Each line occupies
 * `Buffer.byteLength(text) + 1` bytes of the log (its `\n`). One instance per database: the
 * tail cache assumes no other writer appends to the same executions.
 */
export class SqliteOutputLog implements OutputLog {
  readonly #db: SqliteDatabase;
  /** Insertion-ordered, so the first key is the least recently used. */
  readonly #tails = new Map<string, Tail>();

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  async append(executionId: string, lines: readonly OutputLine[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (lines.length === 0) return;
    const start = this.#tail(executionId);
    const next = { ...start };
    const insert = this.#db.prepare(OUTPUT_LOG_QUERIES.insert);
    try {
      // node:sqlite is synchronous: nothing else runs until the transaction ends, so concurrent
      // appends cannot interleave and the tail read above is still current.
      this.#db.transaction(() => {
        for (const line of lines) {
          // A line must not contain its terminator, or line and byte coordinates disagree; lone
          // surrogates would be stored as U+FFFD, so count what is stored.
          for (const text of line.text.toWellFormed().split('\n')) {
            insert.run(executionId, next.lines, next.bytes, line.level, text);
            next.lines += 1;
            next.bytes += Buffer.byteLength(text) + 1;
          }
        }
      });
    } catch (err) {
      // The cache may not be trusted after a failure; the next call re-reads the DB.
      this.#tails.delete(executionId);
      throw err;
    }
    this.#remember(executionId, next);
  }

  /** @throws MCPV8_ERR_INPUT_INVALID for a negative or non-integer offset, or a limit below 1. */
  async read(executionId: string, range: OutputRange, signal?: AbortSignal): Promise<OutputPage> {
    signal?.throwIfAborted();
    assertOutputRange(range);
    const { offset, limit } = range;
    const tail = this.#tail(executionId);
    return range.mode === 'lines'
      ? this.#readLines(executionId, offset, limit, tail)
      : this.#readBytes(executionId, offset, limit, tail);
  }

  async delete(executionIds: readonly string[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (executionIds.length === 0) return;
    const del = this.#db.prepare(OUTPUT_LOG_QUERIES.delete);
    try {
      this.#db.transaction(() => {
        for (const id of executionIds) del.run(id);
      });
    } finally {
      for (const id of executionIds) this.#tails.delete(id);
    }
  }

  #readLines(executionId: string, offset: number, limit: number, tail: Tail): OutputPage {
    if (offset >= tail.lines) return emptyPage(tail);
    const rows = this.#db
      .prepare(OUTPUT_LOG_QUERIES.linesByIndex)
      .all(executionId, offset, Math.min(offset + limit, tail.lines)) as unknown as LineRow[];
    // Only a concurrent delete empties the range; answer as for an unknown execution.
    return linePage(rows.map(stored), tail);
  }

  #readBytes(executionId: string, offset: number, limit: number, tail: Tail): OutputPage {
    if (offset >= tail.bytes) return emptyPage(tail);
    const startRow = this.#db.prepare(OUTPUT_LOG_QUERIES.lineAtByte).get(executionId, offset) as
      { byte_start: number } | undefined;
    if (startRow === undefined) return emptyPage(tail);
    // Fetch a few bytes past the requested end: moving the start forward out of a character
    // and then returning at least one whole character can reach that far.
    const last = fetchEnd(offset, limit, tail);
    const rows = this.#db
      .prepare(OUTPUT_LOG_QUERIES.linesByByte)
      .all(executionId, startRow.byte_start, last + 1, PAGE_MAX_LINES + 1) as unknown as LineRow[];
    return bytePage(rows.map(stored), offset, limit, tail);
  }

  /** The execution's tail, from the cache or else its last stored line. */
  #tail(executionId: string): Tail {
    const cached = this.#tails.get(executionId);
    if (cached !== undefined) {
      this.#remember(executionId, cached);
      return cached;
    }
    const row = this.#db.prepare(OUTPUT_LOG_QUERIES.tail).get(executionId) as
      { line_index: number; byte_start: number; len: number } | undefined;
    const tail: Tail =
      row === undefined
        ? { lines: 0, bytes: 0 }
        : { lines: row.line_index + 1, bytes: row.byte_start + row.len + 1 };
    this.#remember(executionId, tail);
    return tail;
  }

  #remember(executionId: string, tail: Tail): void {
    this.#tails.delete(executionId);
    this.#tails.set(executionId, tail);
    if (this.#tails.size > TAIL_CACHE_SIZE) {
      const oldest = this.#tails.keys().next();
      if (oldest.done !== true) this.#tails.delete(oldest.value);
    }
  }
}

/** A row as the shared page builders take it. */
function stored(r: LineRow): StoredLine {
  return {
    index: r.line_index,
    start: r.byte_start,
    level: r.level as OutputLevel,
    text: Buffer.from(r.text, 'utf8'),
  };
}
