/**
 * One rule for every HeapStore: a failure of what lies underneath (disk, network, S3 server,
 * credentials) becomes MCPV8_ERR_HEAP_STORE_UNAVAILABLE (503, retryable) with a short reason and
 * the original error as `cause`. Catalogue errors (not found, corrupt, invalid id) and the
 * caller's own abort pass through unchanged.
 */
import { Mcpv8Error } from './errors.ts';

/**
 * The error to throw for `err`, caught while using a store's backing storage.
 * @param reason what failed, in a few words; never secrets (keys, signatures, credentials).
 */
export function heapStoreFailure(err: unknown, reason: string, signal?: AbortSignal): unknown {
  if (err instanceof Mcpv8Error) return err;
  // The caller gave up; that is not the store's fault and must not look retryable.
  if (signal?.aborted) return err;
  return new Mcpv8Error('MCPV8_ERR_HEAP_STORE_UNAVAILABLE', [reason], { cause: err });
}

/** The system error code of a Node error (`EACCES`, `ECONNREFUSED` …), else its name. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  return err instanceof Error ? err.name : typeof err;
}
