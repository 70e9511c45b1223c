/**
 * What the stateful MCP tools and REST routes call for sessions and heap tags: validates every
 * argument (stable error codes), bounds every page, and answers in the public snake_case shape.
 * Exists only in stateful mode; the same instance backs every transport.
 */
import type { z } from 'zod';
import {
  HeapTagsSchema,
  Mcpv8Error,
  SESSION_LOG_FIELDS,
  SessionNameSchema,
  TagKeySchema,
  assertHeapId,
  type HeapId,
  type HeapStore,
  type HeapTagStore,
  type HeapTags,
  type SessionLog,
  type SessionLogField,
} from '../core/index.ts';
import type { SessionStores, TenantStores } from '../core/tenant-stores.ts';
import { SingleTenantStores } from '../local/single-tenant-stores.ts';
import { requireInteger } from './output-range.ts';
import {
  toSessionEntryView,
  type HeapQueryView,
  type HeapTagsView,
  type SessionListView,
  type SnapshotPageView,
} from './session-view.ts';

/** Page sizes: default and largest, for snapshots and tag queries. */
export const SESSION_PAGE_DEFAULT = 100;
export const SESSION_PAGE_MAX = 1000;

/**
 * One session log, tag store and heap store for every caller (embedded), or stores resolved per
 * tenant namespace (cluster).
 */
export type SessionServiceOptions =
  | {
      log: SessionLog;
      tags: HeapTagStore;
      /** Tag operations are refused for heaps not stored here. */
      heaps: HeapStore;
    }
  | { tenants: TenantStores };

export interface PageArgs {
  offset?: number;
  limit?: number;
}

/** Every method takes the caller's namespace first: a tenant sees only its own sessions and tags. */
export class SessionService {
  readonly #tenants: TenantStores;

  constructor(opts: SessionServiceOptions) {
    this.#tenants =
      'tenants' in opts
        ? opts.tenants
        : new SingleTenantStores({
            heaps: opts.heaps,
            sessions: { log: opts.log, tags: opts.tags },
          });
  }

  /**
   * Session names, sorted, a page at a time (default and largest page: 1000, so an ordinary
   * server answers with all of them as the seed does). @throws MCPV8_ERR_INPUT_INVALID
   */
  async listSessions(namespace: string, page: PageArgs = {}): Promise<SessionListView> {
    const offset = requireInteger('offset', page.offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = requireInteger('limit', page.limit ?? SESSION_PAGE_MAX, 1, SESSION_PAGE_MAX);
    const all = await (await this.#stores(namespace)).log.listSessions();
    const sessions = all.slice(offset, offset + limit);
    const next = offset + sessions.length;
    return { sessions, ...(next < all.length && { next_offset: next }) };
  }

  /**
   * A page of a session's log entries (empty for an unknown session), restricted to `fields`:
   * a comma-separated string or an array of index, input_heap, output_heap, code, timestamp
   * (absent or empty: all). @throws MCPV8_ERR_INPUT_INVALID
   */
  async listSnapshots(
    namespace: string,
    session: string,
    args: PageArgs & { fields?: string | readonly string[] } = {},
  ): Promise<SnapshotPageView> {
    const name = check(SessionNameSchema, session, 'session');
    const fields = parseFields(args.fields);
    const offset = requireInteger('offset', args.offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = requireInteger('limit', args.limit ?? SESSION_PAGE_DEFAULT, 1, SESSION_PAGE_MAX);
    // One more than asked tells whether another page follows.
    const log = (await this.#stores(namespace)).log;
    const entries = await log.list(name, { offset, limit: limit + 1 });
    const page = entries.slice(0, limit);
    return {
      session: name,
      entries: page.map((e) => toSessionEntryView(e, fields)),
      ...(entries.length > limit && { next_offset: offset + limit }),
    };
  }

  /** @throws MCPV8_ERR_HEAP_ID_INVALID, MCPV8_ERR_HEAP_NOT_FOUND */
  async getTags(namespace: string, heap: string): Promise<HeapTagsView> {
    const id = await this.#existingHeap(namespace, heap);
    return { heap: id, tags: await (await this.#stores(namespace)).tags.get(id) };
  }

  /** Replaces the heap's tags. @throws MCPV8_ERR_HEAP_ID_INVALID, _HEAP_NOT_FOUND, _INPUT_INVALID */
  async setTags(namespace: string, heap: string, tags: unknown): Promise<HeapTagsView> {
    assertHeapId(heap);
    const valid = check(HeapTagsSchema, tags, 'tags');
    const id = await this.#existingHeap(namespace, heap);
    await (await this.#stores(namespace)).tags.set(id, valid);
    return { heap: id, tags: valid };
  }

  /**
   * Removes the given keys (an empty list removes nothing), or every tag when `keys` is absent;
   * answers with the tags left. @throws MCPV8_ERR_HEAP_ID_INVALID, _HEAP_NOT_FOUND, _INPUT_INVALID
   */
  async deleteTags(namespace: string, heap: string, keys?: readonly string[]): Promise<HeapTagsView> {
    assertHeapId(heap);
    const valid = keys === undefined ? undefined : check(TagKeySchema.array(), keys, 'keys');
    const id = await this.#existingHeap(namespace, heap);
    return { heap: id, tags: await (await this.#stores(namespace)).tags.delete(id, valid) };
  }

  /**
   * Heaps whose tags contain every pair of `match` (at least one pair), at most `limit`
   * (default 100, largest 1000). @throws MCPV8_ERR_INPUT_INVALID
   */
  async queryByTags(namespace: string, match: unknown, limit?: number): Promise<HeapQueryView> {
    const valid: HeapTags = check(HeapTagsSchema, match, 'tags');
    if (Object.keys(valid).length === 0) {
      // An empty match would list every tagged heap: not a query, and unbounded in meaning.
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', ['tags must hold at least one key/value pair']);
    }
    const n = requireInteger('limit', limit ?? SESSION_PAGE_DEFAULT, 1, SESSION_PAGE_MAX);
    return { heaps: await (await this.#stores(namespace)).tags.query(valid, n) };
  }

  async #stores(namespace: string): Promise<SessionStores> {
    const stores = await this.#tenants.sessions(namespace);
    if (!stores) throw new Mcpv8Error('MCPV8_ERR_SESSION_STATELESS', ['sessions']);
    return stores;
  }

  async #existingHeap(namespace: string, heap: string): Promise<HeapId> {
    assertHeapId(heap);
    const heaps = this.#tenants.heaps(namespace);
    if (!heaps) throw new Mcpv8Error('MCPV8_ERR_SESSION_STATELESS', ['heap tags']);
    if (!(await heaps.has(heap))) throw new Mcpv8Error('MCPV8_ERR_HEAP_NOT_FOUND', [heap]);
    return heap;
  }
}

/**
 * The requested fields, in the canonical order, each once.
 * @throws MCPV8_ERR_INPUT_INVALID naming an unknown field
 */
export function parseFields(fields: string | readonly string[] | undefined): SessionLogField[] {
  if (fields === undefined) return [...SESSION_LOG_FIELDS];
  if (typeof fields !== 'string' && !Array.isArray(fields)) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', ['fields must be a comma-separated string or an array']);
  }
  const names = (typeof fields === 'string' ? fields.split(',') : fields)
    .map((f) => (typeof f === 'string' ? f.trim() : String(f)))
    .filter((f) => f.length > 0);
  if (names.length === 0) return [...SESSION_LOG_FIELDS];
  const unknown = names.find((f) => !(SESSION_LOG_FIELDS as readonly string[]).includes(f));
  if (unknown !== undefined) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `unknown field "${unknown.slice(0, 80)}"; fields are ${SESSION_LOG_FIELDS.join(', ')}`,
    ]);
  }
  return SESSION_LOG_FIELDS.filter((f) => names.includes(f));
}

/** `value` parsed by `schema`. @throws MCPV8_ERR_INPUT_INVALID naming where it is wrong */
function check<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = [name, ...(issue?.path ?? []).map(String)].join('.');
  throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`${where} ${issue?.message ?? 'is invalid'}`]);
}
