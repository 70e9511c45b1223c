/**
 * One fetch() as the host performs it: every hop — the request and each redirect — is first
 * authorized by the fetch policy with what the code asked for, then sent with the injected
 * headers added, redirects followed by hand (like module downloads) so that no hop escapes the
 * policy. The final response is read within its budget and handed back with secrets scrubbed.
 */
import { Mcpv8Error, isMcpv8Error, type PolicyEngine } from '../../core/index.ts';
import { fetchPolicyInput, type FetchRequest } from './fetch-request.ts';
import { discardBody, readBody, toFetchResult, type BodyBudget, type FetchResult } from './fetch-response.ts';
import type { HeaderInjector } from './header-rules.ts';
import { Redactor } from './redaction.ts';

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Headers describing a body, dropped when a redirect turns the request into a GET (as the web does). */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];
/** The code's credentials, not sent to another origin after a redirect (as the web does). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export interface ExchangeContext {
  policy: PolicyEngine;
  injector: HeaderInjector;
  maxRedirects: number;
  budget: BodyBudget;
  /** Aborts the exchange: the cell aborted, the execution stopped, or its deadline passed. */
  signal: AbortSignal;
  /** Scrubs every rule value from error messages. */
  scrub: Redactor;
  fetch: typeof fetch;
}

/**
 * Performs `req` and resolves with the result the cell receives.
 * @throws Mcpv8Error MCPV8_ERR_POLICY_* (from the policy, per hop), MCPV8_ERR_FETCH_FAILED
 *   (network failure, redirect refused), MCPV8_ERR_FETCH_LIMIT (redirects, body size); or
 *   whatever aborting `ctx.signal` caused (the caller maps it).
 */
export async function exchange(req: FetchRequest, ctx: ExchangeContext): Promise<FetchResult> {
  let url = req.url;
  let method = req.method;
  let body = req.body;
  const headers = new Map(req.headers);
  const sent = new Set<string>();
  let redirects = 0;
  for (;;) {
    await ctx.policy.authorize('fetch', fetchPolicyInput(url, method, headers), ctx.signal);
    ctx.signal.throwIfAborted();
    const injected = ctx.injector.headersFor(url, method, new Set(headers.keys()));
    for (const value of injected.values()) sent.add(value);

    let res: Response;
    try {
      res = await ctx.fetch(url, {
        method,
        headers: [...headers, ...injected],
        ...(body !== undefined && { body }),
        redirect: 'manual',
        signal: ctx.signal,
      });
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      throw failed(ctx, method, url, reasonOf(err));
    }

    const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get('location') : null;
    // A 3xx without Location is a final response, as on the web; `manual` hands back the 3xx.
    if (location !== null && req.redirect !== 'manual') {
      await discardBody(res);
      if (req.redirect === 'error')
        throw failed(ctx, method, url, `redirected (${res.status}) while redirect is "error"`);
      if (++redirects > ctx.maxRedirects) {
        throw new Mcpv8Error('MCPV8_ERR_FETCH_LIMIT', [`more than ${ctx.maxRedirects} redirects`], {
          details: { maxRedirects: ctx.maxRedirects },
        });
      }
      const next = URL.parse(location, url.href);
      if (next === null || (next.protocol !== 'http:' && next.protocol !== 'https:'))
        throw failed(ctx, method, url, 'redirected to a URL that is not http(s)');
      if (next.username !== '' || next.password !== '')
        throw failed(ctx, method, url, 'redirected to a URL that includes credentials');
      if (
        (res.status === 303 && method !== 'HEAD') ||
        ((res.status === 301 || res.status === 302) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        for (const name of BODY_HEADERS) headers.delete(name);
      }
      if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) headers.delete(name);
      url = next;
      continue;
    }

    let bytes: Buffer | null = null;
    try {
      if (method === 'HEAD') await discardBody(res);
      else bytes = await readBody(res, ctx.budget);
    } catch (err) {
      if (ctx.signal.aborted || isMcpv8Error(err)) throw err;
      throw failed(ctx, method, url, `reading the response body: ${reasonOf(err)}`);
    }
    return toFetchResult(res, bytes, url, redirects > 0, new Redactor(sent));
  }
}

function failed(ctx: ExchangeContext, method: string, url: URL, reason: string): Mcpv8Error {
  // No `cause`: the underlying error could quote a header, and causes end up in logs. No query
  // either (API keys often travel there), as in policy errors.
  const shown = `${url.origin}${url.pathname}${url.search === '' ? '' : '?…'}`;
  return new Mcpv8Error('MCPV8_ERR_FETCH_FAILED', [
    ctx.scrub.text(`${method} ${shown}`),
    ctx.scrub.text(reason).slice(0, 500),
  ]);
}

/** The most telling part of an error: undici hides the system error (ECONNREFUSED…) in `cause`. */
export function reasonOf(err: unknown): string {
  const inner: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
  return inner instanceof Error ? inner.message : String(inner);
}
