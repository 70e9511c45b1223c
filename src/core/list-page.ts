/**
 * Paging of execution lists, the same for every ExecutionStore: the page size bounds (records
 * and bytes) and the opaque cursor (a sort key the store issued, base64url JSON), so callers see
 * one behaviour.
 * A bad limit or a cursor the store did not issue is the caller's mistake: MCPV8_ERR_INPUT_INVALID.
 */
import { Mcpv8Error } from './errors.ts';

/** Largest page an ExecutionStore serves. */
export const LIST_LIMIT_MAX = 1000;

/** Longest cursor accepted; every cursor a store issues is far shorter. */
export const LIST_CURSOR_MAX_CHARS = 512;

/** Longest id part of a cursor (execution ids are UUIDs or DNS names). */
const CURSOR_ID_MAX_CHARS = 253;

/**
 * Most bytes of records (their JSON) one page carries: with results of up to 1 MiB, `limit`
 * records could otherwise make a page of gigabytes. A page always carries one record at least.
 */
export const LIST_PAGE_MAX_BYTES = 8 << 20;

/**
 * Fills one page in order: at most `limit` items and {@link LIST_PAGE_MAX_BYTES}. Offer items
 * until {@link add} refuses one; `more` then says another page follows.
 */
export class PageFill<T> {
  readonly items: T[] = [];
  /** True once an item was refused: the page is full and more items exist. */
  more = false;
  readonly #limit: number;
  #bytes = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Adds `item` (of `bytes`) when the page has room for it; false when it is full. */
  add(item: T, bytes: number): boolean {
    const overBudget = this.items.length > 0 && this.#bytes + bytes > LIST_PAGE_MAX_BYTES;
    if (this.items.length >= this.#limit || overBudget) {
      this.more = true;
      return false;
    }
    this.items.push(item);
    this.#bytes += bytes;
    return true;
  }
}

/** @throws MCPV8_ERR_INPUT_INVALID for a limit outside 1–{@link LIST_LIMIT_MAX}. */
export function assertListLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `limit must be an integer from 1 to ${LIST_LIMIT_MAX}, got ${String(limit)}`,
    ]);
  }
}

/** A cursor for the sort key `[time, id]` of the last item of a page. */
export function encodeListCursor(key: readonly [string | number, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** True for a time as stores record it: `Date.toISOString()` output. */
export function isIsoTime(v: unknown): v is string {
  return (
    typeof v === 'string' &&
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v) &&
    !Number.isNaN(Date.parse(v))
  );
}

/**
 * The sort key a cursor carries, when its time part passes `isTime`. Only the exact text
 * {@link encodeListCursor} makes is accepted (base64url decoding alone ignores stray characters).
 * @throws MCPV8_ERR_INPUT_INVALID for a cursor the store did not issue.
 */
export function decodeListCursor<T extends string | number>(
  cursor: unknown,
  isTime: (v: unknown) => v is T,
): [T, string] {
  const parsed = typeof cursor === 'string' ? parseCursor(cursor) : undefined;
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    !isTime(parsed[0]) ||
    typeof parsed[1] !== 'string' ||
    parsed[1].length === 0 ||
    parsed[1].length > CURSOR_ID_MAX_CHARS ||
    encodeListCursor([parsed[0], parsed[1]]) !== cursor
  ) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      'cursor is not a next_cursor this server issued; omit it to start from the newest',
    ]);
  }
  return [parsed[0], parsed[1]];
}

function parseCursor(cursor: string): unknown {
  if (cursor.length === 0 || cursor.length > LIST_CURSOR_MAX_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    return undefined;
  }
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}
