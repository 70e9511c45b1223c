/**
 * Newest-first paging over Execution objects, which the Kubernetes API cannot sort: a list
 * comes back in name order and its `continue` token resumes in name order. So a page is chosen
 * in two steps, each a bounded list:
 *
 * 1. Scan the namespace's metadata only (labels, no spec: `as=PartialObjectMetadataList`) in
 *    chunks, keeping the `limit + 1` newest keys (createdAt ms, id) after the cursor. The
 *    `mcpv8.dev/created-ms<…` selector lets the server skip everything newer than the cursor,
 *    and `mcpv8.dev/phase` the other statuses.
 * 2. Fetch the full objects of the chosen `limit` keys, newest first, in groups each through
 *    one `created-ms` window selector, until the page holds LIST_PAGE_MAX_BYTES of records.
 *
 * Memory stays O(limit) keys plus about a page's bytes of objects whatever the namespace holds;
 * time is one metadata pass over what is older than the cursor. That is a fair price here: finished Executions are deleted
 * after their TTL (15 minutes by default) and ResourceQuota caps the count per namespace.
 *
 * The cursor is the last item's (createdAt ms, id), base64url JSON: opaque to callers, and
 * stable across writes: an item created later is newer than every cursor (no duplicates) and
 * deletions cannot shift positions (no gaps), unlike an offset.
 */
import type { ExecutionStatus } from '../core/api/execution.ts';
import { isExpired, type ListPage, type ListRequest } from './execution-api.ts';
import { LABEL_CREATED_MS, LABEL_PHASE, phasesOf } from './execution-resource.ts';
import { decodeListCursor, encodeListCursor } from '../core/list-page.ts';

/** Where an execution sorts: by creation time (epoch ms), then id; newest first. */
export interface ListKey {
  ms: number;
  id: string;
}

/** Negative when `a` comes first in newest-first order. */
export function compareNewestFirst(a: ListKey, b: ListKey): number {
  if (a.ms !== b.ms) return b.ms - a.ms;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function encodeCursor(key: ListKey): string {
  return encodeListCursor([key.ms, key.id]);
}

/** @throws MCPV8_ERR_INPUT_INVALID for a cursor this store did not issue. */
export function decodeCursor(cursor: string): ListKey {
  const [ms, id] = decodeListCursor(
    cursor,
    (v): v is number => Number.isSafeInteger(v) && (v as number) >= 0,
  );
  return { ms, id };
}

/** The sort key of an object from its `created-ms` label; undefined when it has none. */
export function keyOf(meta: { name: string; labels?: Record<string, string> }): ListKey | undefined {
  const label = meta.labels?.[LABEL_CREATED_MS];
  const ms = label === undefined || !/^\d{1,16}$/.test(label) ? NaN : Number(label);
  return Number.isSafeInteger(ms) ? { ms, id: meta.name } : undefined;
}

/** Keeps the `size` first keys in newest-first order of everything added, in O(size) memory. */
export class NewestFirst {
  readonly #size: number;
  #keys: ListKey[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  add(key: ListKey): void {
    this.#keys.push(key);
    // Sorting only when the buffer doubles keeps adding amortised O(log size).
    if (this.#keys.length >= 2 * this.#size) this.#trim();
  }

  /** The kept keys, newest first. */
  keys(): ListKey[] {
    this.#trim();
    return [...this.#keys];
  }

  #trim(): void {
    this.#keys.sort(compareNewestFirst);
    // A restarted scan (expired continue token) may add a key twice.
    this.#keys = this.#keys.filter((k, i, all) => i === 0 || compareNewestFirst(all[i - 1]!, k) !== 0);
    this.#keys.length = Math.min(this.#keys.length, this.#size);
  }
}

/** A label selector from its requirements (every list also requires the created-ms label). */
export function selector(...requirements: Array<string | undefined>): string {
  return [LABEL_CREATED_MS, ...requirements.filter((r) => r !== undefined)].join(',');
}

/** The requirement for records in `status`, if one is asked for. */
export function phaseRequirement(status: ExecutionStatus | undefined): string | undefined {
  return status === undefined ? undefined : `${LABEL_PHASE} in (${phasesOf(status).join(',')})`;
}

/** Created at or before `ms` (selectors compare integers with strict `<` and `>` only). */
export function createdAtOrBefore(ms: number): string {
  return `${LABEL_CREATED_MS}<${ms + 1}`;
}

/** Created at or after `ms`. */
export function createdAtOrAfter(ms: number): string | undefined {
  return ms === 0 ? undefined : `${LABEL_CREATED_MS}>${ms - 1}`;
}

/**
 * Lists every page of `req`, handing each chunk to `onItems`. An expired continue token (410:
 * the scan outlived etcd's compaction window) restarts the scan once from the beginning, after
 * `onRestart`, so consumers must tolerate seeing an item twice.
 */
export async function scan<T>(
  list: (req: ListRequest) => Promise<ListPage<T>>,
  req: Omit<ListRequest, 'continue'>,
  onItems: (items: T[]) => Promise<void> | void,
  onRestart: () => void = () => {},
): Promise<void> {
  for (let restarts = 0; ; restarts++) {
    let token: string | undefined;
    try {
      do {
        const page = await list({ ...req, ...(token !== undefined && { continue: token }) });
        await onItems(page.items);
        token = page.continue;
      } while (token !== undefined);
      return;
    } catch (err) {
      if (!isExpired(err) || restarts > 0) throw err;
      onRestart();
    }
  }
}
