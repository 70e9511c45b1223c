/**
 * Paging of execution lists, the same for every ExecutionStore: the page size bound and the
 * opaque cursor (a sort key the store issued, base64url JSON), so callers see one behaviour.
 */

/** Largest page an ExecutionStore serves. */
export const LIST_LIMIT_MAX = 1000;

/** @throws RangeError for a limit outside 1–{@link LIST_LIMIT_MAX}. */
export function assertListLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) {
    throw new RangeError(`limit must be an integer in 1–${LIST_LIMIT_MAX}, got ${limit}`);
  }
}

/** A cursor for the sort key `[time, id]` of the last item of a page. */
export function encodeListCursor(key: readonly [string | number, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * The sort key a cursor carries, when its time part passes `isTime`.
 * @throws RangeError for a cursor the store did not issue.
 */
export function decodeListCursor<T extends string | number>(
  cursor: string,
  isTime: (v: unknown) => v is T,
): [T, string] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || !isTime(parsed[0]) || typeof parsed[1] !== 'string') {
    throw new RangeError('invalid list cursor');
  }
  return [parsed[0], parsed[1]];
}
