/**
 * Heaps without V8 snapshots: the truth of a heap is its journal node — the parent heap, the
 * cell, what the cell observed (clock, PRNG seed, host results, timer order) and the modules it
 * loaded — and the heap id is the SHA-256 of the node's canonical encoding. The same inputs give
 * the same id on any machine and after upgrades.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CellLanguageSchema } from './api/execution.ts';
import { HEAP_ID_PATTERN, type HeapId } from './api/heap-id.ts';
import { Mcpv8Error } from './errors.ts';

/**
 * What a cell observed, in order. `call` is a host call as the cell made it (with the result it
 * got); `return` marks where that result was delivered to the cell, and `timer` where a timer
 * fired: replaying them in this order rebuilds the same state even when they interleave.
 */
export const JournalEntrySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('now'), value: z.number() }),
  z.object({ kind: z.literal('seed'), value: z.number().int() }),
  z.object({ kind: z.literal('call'), op: z.string(), payload: z.string(), result: z.string() }),
  z.object({ kind: z.literal('return'), call: z.number().int().nonnegative() }),
  z.object({ kind: z.literal('timer'), id: z.number().int().positive() }),
]);
export type JournalEntry = z.infer<typeof JournalEntrySchema>;

export const HeapNodeSchema = z.object({
  /**
   * Version of the journal's meaning (what the runtime records and how replay answers it). It
   * changes only when replay semantics change, so upgrades that keep them keep heap ids stable.
   */
  format: z.literal(1),
  parent: z.string().regex(HEAP_ID_PATTERN).nullable(),
  cell: z.object({ code: z.string(), language: CellLanguageSchema }),
  journal: z.array(JournalEntrySchema),
  /** Modules the cell loaded, by final URL, with the SHA-256 of their source. */
  modules: z.array(z.object({ url: z.string(), sha256: z.string().regex(HEAP_ID_PATTERN) })),
});
export type HeapNode = z.infer<typeof HeapNodeSchema>;

/** Canonical JSON: object keys sorted, no whitespace; the bytes the heap id hashes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Encodes a node and computes its id. */
export function encodeHeapNode(node: HeapNode): { id: HeapId; bytes: Buffer } {
  const bytes = Buffer.from(canonicalJson(HeapNodeSchema.parse(node)), 'utf8');
  return { id: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/**
 * Decodes stored bytes and checks them against the id they were stored under.
 * @throws Mcpv8Error MCPV8_ERR_HEAP_CORRUPT when the content does not hash to `id` or is not a node.
 */
export function decodeHeapNode(id: HeapId, bytes: Uint8Array): HeapNode {
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== id)
    throw new Mcpv8Error('MCPV8_ERR_HEAP_CORRUPT', [id, 'its content does not match its id']);
  try {
    return HeapNodeSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (err) {
    throw new Mcpv8Error('MCPV8_ERR_HEAP_CORRUPT', [id, 'it is not a heap journal node'], { cause: err });
  }
}

/** Where heaps are kept: a directory, or S3 (with an optional local cache). */
export interface HeapStore {
  /** Stores a node; idempotent (an existing id is left as is). Returns its id. */
  put(node: HeapNode, signal?: AbortSignal): Promise<HeapId>;
  /**
   * The node stored under `id`, verified against it.
   * @throws Mcpv8Error MCPV8_ERR_HEAP_ID_INVALID, MCPV8_ERR_HEAP_NOT_FOUND, MCPV8_ERR_HEAP_CORRUPT
   */
  get(id: string, signal?: AbortSignal): Promise<HeapNode>;
  has(id: string, signal?: AbortSignal): Promise<boolean>;
}
