/** Heap ids: the SHA-256 of a heap journal node's canonical encoding (see ../heap.ts). */
import { z } from 'zod';
import { Mcpv8Error } from '../errors.ts';

/** 64 lower-case hex characters. */
export const HEAP_ID_PATTERN = /^[0-9a-f]{64}$/;
export type HeapId = string;

export const HeapIdSchema = z
  .string()
  .regex(HEAP_ID_PATTERN, 'must be 64 lower-case hex characters')
  .describe('Heap id: 64 lower-case hex characters (SHA-256)');

/** @throws Mcpv8Error MCPV8_ERR_HEAP_ID_INVALID when `id` is not 64 lower-case hex characters. */
export function assertHeapId(id: unknown): asserts id is HeapId {
  if (typeof id !== 'string' || !HEAP_ID_PATTERN.test(id)) {
    throw new Mcpv8Error('MCPV8_ERR_HEAP_ID_INVALID', [typeof id === 'string' ? id.slice(0, 80) : typeof id]);
  }
}
