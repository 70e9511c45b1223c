/**
 * The public (snake_case) shapes of sessions, session log entries and heap tags, shared by the
 * MCP tools, the REST API and the OpenAPI document so all three say the same thing.
 */
import { z } from 'zod';
import type { SessionLogEntry, SessionLogField } from '../core/index.ts';

/** One session log entry; only the fields the caller asked for are present. */
export const SessionEntryViewSchema = z.object({
  index: z.number().int().optional().describe('0-based position in the session'),
  input_heap: z.string().nullable().optional().describe('The heap the cell resumed (null: fresh start)'),
  output_heap: z.string().optional().describe('The heap the cell committed'),
  code: z.string().optional(),
  timestamp: z.string().optional().describe('ISO-8601 UTC'),
});
export type SessionEntryView = z.infer<typeof SessionEntryViewSchema>;

export const SessionListViewSchema = z.object({
  sessions: z.array(z.string()).describe('Session names, sorted'),
  next_offset: z.number().int().optional().describe('Offset of the next page, when there is one'),
});
export type SessionListView = z.infer<typeof SessionListViewSchema>;

export const SnapshotPageViewSchema = z.object({
  session: z.string(),
  entries: z.array(SessionEntryViewSchema).describe('Entries in index order'),
  next_offset: z.number().int().optional().describe('Offset of the next page, when there is one'),
});
export type SnapshotPageView = z.infer<typeof SnapshotPageViewSchema>;

export const HeapTagsViewSchema = z.object({
  heap: z.string(),
  tags: z.record(z.string(), z.string()),
});
export type HeapTagsView = z.infer<typeof HeapTagsViewSchema>;

export const HeapQueryViewSchema = z.object({
  heaps: z.array(HeapTagsViewSchema).describe('Heaps whose tags contain every given pair'),
});
export type HeapQueryView = z.infer<typeof HeapQueryViewSchema>;

/** The entry with only `fields`, named as the seed names them. */
export function toSessionEntryView(e: SessionLogEntry, fields: readonly SessionLogField[]): SessionEntryView {
  const all: Required<SessionEntryView> = {
    index: e.index,
    input_heap: e.inputHeap,
    output_heap: e.outputHeap,
    code: e.code,
    timestamp: e.timestamp,
  };
  return Object.fromEntries(fields.map((f) => [f, all[f]]));
}
