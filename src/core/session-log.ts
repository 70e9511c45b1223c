/**
 * Sessions and heap tags (the seed's session log and tag tools): a named session is the list of
 * cells committed under its name, each entry linking the heap it resumed to the heap it made;
 * tags are string labels on heaps, queried by exact match. Embedded: SQLite under
 * `--session-db-path`.
 */
import { z } from 'zod';
import type { HeapId } from './api/heap-id.ts';

/** Session names: 1–128 printable characters, no control characters. */
export const SessionNameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters')
  .describe('Human-readable session name');

/** At most this many tags on one heap. */
export const MAX_TAGS_PER_HEAP = 64;
export const TagKeySchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');
export const TagValueSchema = z.string().max(1024);
export const HeapTagsSchema = z
  .record(TagKeySchema, TagValueSchema)
  .refine((t) => Object.keys(t).length <= MAX_TAGS_PER_HEAP, {
    message: `at most ${MAX_TAGS_PER_HEAP} tags per heap`,
  })
  .describe('Tags: string keys to string values');
export type HeapTags = Record<string, string>;

/** One committed cell of a session. */
export interface SessionLogEntry {
  /** 0-based position in the session, assigned on append. */
  index: number;
  /** The heap the cell resumed (null: it started fresh). */
  inputHeap: HeapId | null;
  outputHeap: HeapId;
  code: string;
  /** ISO-8601 UTC. */
  timestamp: string;
}

export const SESSION_LOG_FIELDS = ['index', 'input_heap', 'output_heap', 'code', 'timestamp'] as const;
export type SessionLogField = (typeof SESSION_LOG_FIELDS)[number];

export interface SessionLog {
  /** Appends one committed cell; the index is the next in the session (atomic under concurrency). */
  append(session: string, entry: Omit<SessionLogEntry, 'index'>): Promise<SessionLogEntry>;
  /** Every session name, sorted. */
  listSessions(): Promise<string[]>;
  /** A session's entries from `offset` (index order); empty for an unknown session. */
  list(session: string, page: { offset: number; limit: number }): Promise<SessionLogEntry[]>;
}

/** Tags on heaps. Every operation is atomic. */
export interface HeapTagStore {
  /** The heap's tags ({} when none). */
  get(heap: HeapId): Promise<HeapTags>;
  /** Replaces the heap's tags with `tags`. */
  set(heap: HeapId, tags: HeapTags): Promise<void>;
  /** Removes the given keys, or every tag when `keys` is absent; returns the tags left. */
  delete(heap: HeapId, keys?: readonly string[]): Promise<HeapTags>;
  /** Heaps whose tags contain every pair of `match`, with their tags; at most `limit`. */
  query(match: HeapTags, limit: number): Promise<Array<{ heap: HeapId; tags: HeapTags }>>;
}
