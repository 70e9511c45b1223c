/**
 * Turns an HTTP response into what the cell receives: the body read within its byte budget
 * (streamed, stopped at the cap), secrets scrubbed, and everything JSON so the journal can
 * record it and a replay hand the same result back.
 */
import { Mcpv8Error } from '../../core/index.ts';
import type { Redactor } from './redaction.ts';

/** Most response headers handed to the cell; the rest are dropped. */
export const MAX_RESPONSE_HEADERS = 256;

/** A response as the cell receives it (see fetch-prelude.ts). */
export interface FetchResult {
  status: number;
  statusText: string;
  url: string;
  redirected: boolean;
  headers: Array<[string, string]>;
  /** UTF-8 text when the bytes are valid UTF-8 (cheaper to carry), base64 otherwise; null: no body. */
  body: { encoding: 'utf8' | 'base64'; data: string } | null;
}

/** How many bytes a response may still take: its own cap and what is left of the execution's. */
export interface BodyBudget {
  maxBytes: number;
  /** Called with each chunk's size; throws MCPV8_ERR_FETCH_LIMIT when the execution's total is spent. */
  take(bytes: number): void;
}

const tooLarge = (max: number) =>
  new Mcpv8Error('MCPV8_ERR_FETCH_LIMIT', [`the response body exceeds ${max} bytes`], {
    details: { maxResponseBytes: max },
  });

/**
 * Reads the whole body within `budget` (decompressed bytes, so a compressed bomb stops at the
 * cap too), or null when the response has none.
 * @throws Mcpv8Error MCPV8_ERR_FETCH_LIMIT past the cap (the connection is closed, not drained).
 */
export async function readBody(res: Response, budget: BodyBudget): Promise<Buffer | null> {
  if (res.body === null) return null;
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (res.headers.get('content-encoding') === null && declared > budget.maxBytes) {
    await discardBody(res);
    throw tooLarge(budget.maxBytes);
  }
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > budget.maxBytes) throw tooLarge(budget.maxBytes);
      budget.take(value.byteLength);
      chunks.push(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    throw err;
  }
  return Buffer.concat(chunks, total);
}

/** Releases a response's connection without reading the rest of its body. */
export async function discardBody(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** The JSON result of a final response whose body was read. */
export function toFetchResult(
  res: Response,
  body: Buffer | null,
  url: URL,
  redirected: boolean,
  redactor: Redactor,
): FetchResult {
  const headers: Array<[string, string]> = [];
  // undici yields set-cookie values one by one and every other header combined.
  for (const [name, value] of res.headers) {
    if (headers.length >= MAX_RESPONSE_HEADERS) break;
    headers.push([name, redactor.text(value)]);
  }
  return {
    status: res.status,
    statusText: redactor.text(res.statusText),
    url: redactor.text(url.href),
    redirected,
    headers,
    body: body === null ? null : encodeBody(redactor.bytes(body)),
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Text when it round-trips exactly (valid UTF-8, BOM kept), base64 otherwise. */
export function encodeBody(bytes: Buffer): { encoding: 'utf8' | 'base64'; data: string } {
  try {
    return { encoding: 'utf8', data: UTF8.decode(bytes) };
  } catch {
    return { encoding: 'base64', data: bytes.toString('base64') };
  }
}
