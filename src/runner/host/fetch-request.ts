/**
 * The fetch host call's payload, as sent by the in-isolate fetch() (see fetch-prelude.ts), and
 * its strict validation: the payload comes from hostile code, so every field is bounded and
 * checked here again whatever the prelude did. Also the policy input of one request hop.
 */
import { z } from 'zod';
import { urlPolicyInput } from '../../core/index.ts';
import { SandboxFacingError } from './host-capability.ts';
import { TOKEN, isHeaderValue } from './header-rules.ts';

export const MAX_URL_CHARS = 8192;
export const MAX_REQUEST_HEADERS = 100;
/** Sum of the lengths of the names and values of a request's headers. */
export const MAX_REQUEST_HEADER_CHARS = 64 * 1024;
/**
 * Largest request body. Bodies travel inside the host-call payload, which the sandbox caps at
 * 1 Mi characters; base64 makes 512 KiB of bytes ~683 Ki characters, leaving room for the rest.
 */
export const MAX_REQUEST_BODY_BYTES = 512 * 1024;

/**
 * Headers user code may not set: they belong to the transport (framing, connection, routing),
 * and `host` would let a request aimed at an allowed address reach another virtual host than
 * the one the policy saw. The prelude drops them as browsers do; the host refuses them.
 */
export const FORBIDDEN_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'expect',
  'host',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Methods the web refuses in fetch(). */
const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'TRACE', 'TRACK']);
/** Methods the web normalises to upper case; any other is kept as written. */
const NORMALIZED_METHODS: ReadonlySet<string> = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const RequestIdSchema = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31);

export const FetchPayloadSchema = z
  .object({
    /** Per-execution request number chosen by the prelude (for fetch.abort). */
    id: RequestIdSchema,
    url: z.string().max(MAX_URL_CHARS),
    method: z.string().min(1).max(32).regex(TOKEN, 'must be an HTTP token'),
    headers: z.array(z.tuple([z.string().max(256), z.string()])).max(MAX_REQUEST_HEADERS),
    body: z
      .object({
        encoding: z.enum(['utf8', 'base64']),
        data: z.string().max(Math.ceil(MAX_REQUEST_BODY_BYTES / 3) * 4),
      })
      .strict()
      .optional(),
    redirect: z.enum(['follow', 'manual', 'error']).default('follow'),
  })
  .strict();

export const FetchAbortPayloadSchema = z.object({ id: RequestIdSchema }).strict();

/** A validated request, as the host performs it. */
export interface FetchRequest {
  id: number;
  url: URL;
  method: string;
  /** Lower-case names → values as the code set them (repeated names joined with `, `). */
  headers: Map<string, string>;
  body: Buffer | undefined;
  redirect: 'follow' | 'manual' | 'error';
}

const invalid = (message: string): SandboxFacingError => new SandboxFacingError('TypeError', message);

/** Parses a host-call payload as JSON and checks it against `schema`; a failure is a TypeError. */
export function parsePayload<S extends z.ZodType>(schema: S, payload: string, what: string): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    throw invalid(`${what}: the request is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`${what}: invalid request: ${issue.path.join('.') || 'payload'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Validates the payload of a `fetch` host call.
 * @throws SandboxFacingError TypeError naming the problem, as web fetch() would reject.
 */
export function parseFetchPayload(payload: string): FetchRequest {
  const p = parsePayload(FetchPayloadSchema, payload, 'fetch');
  const url = URL.parse(p.url);
  if (url === null) throw invalid(`fetch: Failed to parse URL from ${p.url.split(/[?#]/)[0]!.slice(0, 200)}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalid(`fetch: only http: and https: URLs are supported, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw invalid('fetch: Request cannot be constructed from a URL that includes credentials');

  const upper = p.method.toUpperCase();
  const method = NORMALIZED_METHODS.has(upper) ? upper : p.method;
  if (FORBIDDEN_METHODS.has(upper)) throw invalid(`fetch: '${p.method}' HTTP method is unsupported`);

  const headers = new Map<string, string>();
  let chars = 0;
  for (const [rawName, rawValue] of p.headers) {
    if (!TOKEN.test(rawName)) throw invalid(`fetch: invalid header name ${JSON.stringify(rawName)}`);
    const name = rawName.toLowerCase();
    if (FORBIDDEN_REQUEST_HEADERS.has(name)) throw invalid(`fetch: the ${name} header cannot be set`);
    const value = rawValue.replace(/^[\t ]+|[\t ]+$/g, '');
    if (!isHeaderValue(value)) throw invalid(`fetch: invalid value for header ${name}`);
    chars += name.length + value.length;
    const prior = headers.get(name);
    headers.set(name, prior === undefined ? value : `${prior}, ${value}`);
  }
  if (chars > MAX_REQUEST_HEADER_CHARS)
    throw invalid(`fetch: request headers exceed ${MAX_REQUEST_HEADER_CHARS} characters`);

  let body: Buffer | undefined;
  if (p.body !== undefined) {
    if (method === 'GET' || method === 'HEAD')
      throw invalid('fetch: Request with GET/HEAD method cannot have body');
    if (p.body.encoding === 'base64' && !BASE64.test(p.body.data))
      throw invalid('fetch: the request body is not valid base64');
    body = Buffer.from(p.body.data, p.body.encoding);
    if (body.byteLength > MAX_REQUEST_BODY_BYTES)
      throw invalid(`fetch: the request body exceeds ${MAX_REQUEST_BODY_BYTES} bytes`);
  }
  return { id: p.id, url, method, headers, body, redirect: p.redirect };
}

/**
 * The policy input of one request hop: exactly what the code asked for (headers with lower-case
 * names, values as set; injected headers are never part of it).
 */
export function fetchPolicyInput(
  url: URL,
  method: string,
  headers: ReadonlyMap<string, string>,
): Record<string, unknown> {
  return urlPolicyInput('fetch', url, method, Object.fromEntries(headers));
}
