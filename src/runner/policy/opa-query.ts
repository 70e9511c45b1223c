/**
 * One question to one OPA: POST `{input}` to `<url>/v1/data/<path>` (OPA's Data API) and turn the
 * answer into a verdict. Never throws: whatever goes wrong (unreachable, too slow, an error
 * status, an answer that is not JSON or too large, an undefined decision) is an `unavailable`
 * verdict saying what, so the caller can combine several sources before deciding how to fail.
 */
import type { OpaSource } from '../../core/index.ts';

/** What one source said. `why` is meant for people (no URLs with secrets, no header values). */
export type Verdict =
  { kind: 'allow' } | { kind: 'deny'; why: string } | { kind: 'unavailable'; why: string; cause?: unknown };

export interface OpaQuery {
  source: OpaSource;
  /** The request body, `{"input": …}` already serialised (shared by every source). */
  body: string;
  /** Aborts the request: the decision timeout, the caller's signal, or "no longer needed". */
  signal: AbortSignal;
  /** The decision timeout, to tell "too slow" apart from other aborts. */
  timeout: { signal: AbortSignal; ms: number };
  fetch: typeof fetch;
  /** Most bytes of OPA's answer read; a decision is a few bytes, so more means something is wrong. */
  maxResponseBytes: number;
}

const MAX_REASON_CHARS = 200;
const MAX_OPA_MESSAGE_CHARS = 500;

/** Asks `query.source` and returns its verdict. */
export async function queryOpa(query: OpaQuery): Promise<Verdict> {
  const { source, timeout } = query;
  const policy = source.path;
  const unavailable = (why: string, cause?: unknown): Verdict => ({ kind: 'unavailable', why, cause });
  const failed = (err: unknown): Verdict =>
    timeout.signal.aborted
      ? unavailable(`OPA did not answer the policy ${policy} within ${timeout.ms} ms`, err)
      : query.signal.aborted
        ? unavailable(`the decision on ${policy} was abandoned`, err)
        : unavailable(`OPA is unreachable for the policy ${policy} (${errorCause(err)})`, err);

  let res: Response;
  let text: string | undefined;
  try {
    res = await query.fetch(`${source.url.replace(/\/+$/, '')}/v1/data/${source.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: query.body,
      signal: query.signal,
      // Not followed: a redirect would re-send the input somewhere nobody configured.
      redirect: 'manual',
    });
    text = await readBounded(res, query.maxResponseBytes);
  } catch (err) {
    return failed(err);
  }
  if (text === undefined)
    return unavailable(`OPA's answer for the policy ${policy} exceeds ${query.maxResponseBytes} bytes`);

  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch (err) {
    return res.ok
      ? unavailable(`OPA's answer for the policy ${policy} is not JSON`, err)
      : unavailable(`OPA answered HTTP ${res.status} for the policy ${policy}`);
  }
  if (!res.ok) {
    const message = opaErrorMessage(answer);
    return unavailable(
      `OPA answered HTTP ${res.status} for the policy ${policy}${message === undefined ? '' : `: ${message}`}`,
    );
  }
  if (!isObject(answer) || !('result' in answer)) {
    // OPA's way of saying the rule or package does not exist, or nothing matched without a default.
    return unavailable(`the policy ${policy} has no decision`);
  }
  return verdictOf(policy, answer.result);
}

/** Allowed only on `true` or `{allow: true}`; anything else defined is a denial. */
function verdictOf(policy: string, result: unknown): Verdict {
  if (result === true || (isObject(result) && result.allow === true)) return { kind: 'allow' };
  const reason = isObject(result) ? (reasonText(result.reason) ?? reasonText(result.message)) : undefined;
  return { kind: 'deny', why: reason === undefined ? policy : `${policy} (${reason})` };
}

/** A policy's stated reason: a string, or a list (set) of strings. */
function reasonText(value: unknown): string | undefined {
  const parts = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const text = parts
    .filter((p): p is string => typeof p === 'string' && p !== '')
    .join('; ')
    .replace(/\s+/g, ' ');
  return text === '' ? undefined : truncate(text, MAX_REASON_CHARS);
}

/**
 * OPA's error body: `{code, message, errors?: [{code, message}]}`. Evaluation errors put the
 * useful text (e.g. `eval_conflict_error: … produced conflicting values`) in `errors`.
 */
function opaErrorMessage(answer: unknown): string | undefined {
  if (!isObject(answer)) return undefined;
  const details = Array.isArray(answer.errors)
    ? answer.errors
        .filter(isObject)
        .map((e) => [e.code, e.message].filter((x) => typeof x === 'string').join(': '))
        .filter((s) => s !== '')
    : [];
  const text =
    details.length > 0 ? details.join('; ') : typeof answer.message === 'string' ? answer.message : '';
  return text === '' ? undefined : truncate(text.replace(/\s+/g, ' '), MAX_OPA_MESSAGE_CHARS);
}

/** The body as text, or undefined when it is larger than `max` bytes (then the rest is not read). */
async function readBounded(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (res.body === null) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** The most telling part of a fetch error: undici hides the system error (ECONNREFUSED…) in `cause`. */
function errorCause(err: unknown): string {
  const inner: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
  const code = (inner as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return inner instanceof Error ? inner.message : String(inner);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
