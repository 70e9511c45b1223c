/**
 * In-isolate fetch(), Headers, Request and Response: the web Fetch API as far as code calling
 * HTTP APIs uses it. Each request is one `fetch` host call (JSON: url, method, headers, body as
 * UTF-8 text or base64, redirect mode); the host validates it again, asks the fetch policy,
 * performs it and answers with the whole response (body as text or base64). Bodies are buffered,
 * not streamed: `response.body` is absent; text/json/arrayBuffer/bytes read them once.
 *
 * An AbortSignal rejects the fetch at once (AbortError) and tells the host to stop the request
 * (`fetch.abort`). Needs TextEncoder/TextDecoder/atob/btoa and AbortSignal, which the extensions
 * before this one install.
 *
 * Serialised with toString (see prelude-extensions.ts): self-contained, no imports.
 */
import type { PreludeExtensionContext } from './prelude.ts';

export function installFetchPrelude({ global: g, callHost, hide, options }: PreludeExtensionContext): void {
  if (!options.capabilities?.includes('fetch')) return;
  interface Signal {
    aborted: boolean;
    reason: unknown;
    addEventListener(type: string, fn: () => void): void;
    removeEventListener(type: string, fn: () => void): void;
  }
  const SignalCtor = g.AbortSignal as abstract new () => Signal;
  const DOMEx = g.DOMException as new (message: string, name: string) => Error;
  const utf8 = new (g.TextEncoder as new () => { encode(s: string): Uint8Array })();
  const lenient = new (g.TextDecoder as new () => { decode(b: Uint8Array): string })();
  const atob = g.atob as (s: string) => string;
  const btoa = g.btoa as (s: string) => string;
  /** Same as the host's MAX_REQUEST_BODY_BYTES (fetch-request.ts). */
  const MAX_BODY = 512 * 1024;
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  // Transport headers: dropped silently, as browsers do (the host refuses them).
  const FORBIDDEN = ['connection', 'content-length', 'expect', 'host', 'keep-alive', 'proxy-connection'];
  FORBIDDEN.push('te', 'trailer', 'transfer-encoding', 'upgrade');
  const INTERNAL = Symbol('internal');
  /** WebIDL string conversion (`String(v)`, objects included, as the web does). */
  const str = String as (v: unknown) => string;
  /** Promises reject with what the web rejects with (an abort reason may be any value). */
  const reason = (e: unknown): Error => e as Error;

  const toBase64 = (b: Uint8Array): string => {
    let s = '';
    for (let i = 0; i < b.length; i += 8192)
      s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
    return btoa(s);
  };
  const fromBase64 = (s: string): Uint8Array => {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };

  // --- Headers: the web class (headers-prelude.ts), made immutable for fetched responses --------
  const BaseHeaders = g.Headers as new (init?: unknown) => {
    append(n: unknown, v: unknown): void;
    set(n: unknown, v: unknown): void;
    delete(n: unknown): void;
    has(n: unknown): boolean;
    [Symbol.iterator](): IterableIterator<[string, string]>;
  };
  type Headers = InstanceType<typeof BaseHeaders>;
  const locked = new WeakSet<object>();
  class LockedHeaders extends BaseHeaders {
    override append(n: unknown, v: unknown): void {
      if (locked.has(this)) throw new TypeError('Headers are immutable');
      super.append(n, v);
    }
    override set(n: unknown, v: unknown): void {
      if (locked.has(this)) throw new TypeError('Headers are immutable');
      super.set(n, v);
    }
    override delete(n: unknown): void {
      if (locked.has(this)) throw new TypeError('Headers are immutable');
      super.delete(n);
    }
  }
  Object.defineProperty(LockedHeaders, 'name', { value: 'Headers' });
  const lockedHeaders = (init?: unknown): Headers => {
    const h = new LockedHeaders(init);
    locked.add(h);
    return h;
  };
  const Headers = BaseHeaders;
  // --- bodies ----------------------------------------------------------------------------------
  type Body = { text: string } | { bytes: Uint8Array } | { base64: string } | null;
  const extractBody = (body: unknown): { body: Body; type: string | null } => {
    if (body === undefined || body === null) return { body: null, type: null };
    if (typeof body === 'string') return { body: { text: body }, type: 'text/plain;charset=UTF-8' };
    if (body instanceof ArrayBuffer) return { body: { bytes: new Uint8Array(body.slice(0)) }, type: null };
    if (ArrayBuffer.isView(body)) {
      const copy = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
      return { body: { bytes: new Uint8Array(copy) }, type: null };
    }
    const Params = g.URLSearchParams;
    if (typeof Params === 'function' && body instanceof Params)
      return { body: { text: str(body) }, type: 'application/x-www-form-urlencoded;charset=UTF-8' };
    // Anything else becomes its string form, as on the web (`{}` → "[object Object]").
    return { body: { text: str(body) }, type: 'text/plain;charset=UTF-8' };
  };
  const bodyText = (b: Body): string => {
    const s = b === null ? '' : 'text' in b ? b.text : lenient.decode(bodyBytes(b));
    return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
  };
  const bodyBytes = (b: Body): Uint8Array =>
    b === null
      ? new Uint8Array(0)
      : 'bytes' in b
        ? b.bytes.slice()
        : 'base64' in b
          ? fromBase64(b.base64)
          : utf8.encode(b.text);

  // --- Response --------------------------------------------------------------------------------
  interface HostResponse {
    status: number;
    statusText: string;
    url: string;
    redirected: boolean;
    headers: Array<[string, string]>;
    body: { encoding: string; data: string } | null;
  }
  interface Fields {
    status: number;
    statusText: string;
    headers: Headers;
    url: string;
    redirected: boolean;
    type: string;
    body: Body;
    signal: Signal | null;
  }
  class Response {
    readonly #f: Fields;
    #used = false;
    constructor(body?: unknown, init?: { status?: unknown; statusText?: unknown; headers?: unknown }) {
      if (body === INTERNAL) {
        this.#f = init as unknown as Fields;
        return;
      }
      const status = init?.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599)
        throw new RangeError('Response: init.status must be in the range of 200 to 599, inclusive');
      const statusText = init?.statusText === undefined ? '' : str(init.statusText);
      if (/[\r\n]/.test(statusText)) throw new TypeError('Response: invalid statusText');
      const headers = new Headers(init?.headers);
      const extracted = extractBody(body);
      if (extracted.body !== null && (status === 204 || status === 205 || status === 304))
        throw new TypeError(`Response: a ${status} response cannot have a body`);
      if (extracted.type !== null && !headers.has('content-type'))
        headers.set('content-type', extracted.type);
      this.#f = {
        status,
        statusText,
        headers,
        url: '',
        redirected: false,
        type: 'default',
        body: extracted.body,
        signal: null,
      };
    }
    static error(): Response {
      const fields: Fields = { ...emptyFields(), status: 0, headers: lockedHeaders(), type: 'error' };
      return new Response(INTERNAL, fields);
    }
    static json(
      data: unknown,
      init?: { status?: unknown; statusText?: unknown; headers?: unknown },
    ): Response {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError('Response.json: the data is not JSON-serialisable');
      const typed = new Headers(init?.headers).has('content-type');
      const res = new Response(text, init);
      if (!typed) res.headers.set('content-type', 'application/json');
      return res;
    }
    static redirect(url: unknown, status: unknown = 302): Response {
      if (![301, 302, 303, 307, 308].includes(Number(status)))
        throw new RangeError('Response.redirect: invalid redirect status');
      const headers = lockedHeaders({ location: String(url) });
      return new Response(INTERNAL, { ...emptyFields(), status: Number(status), headers });
    }
    get status(): number {
      return this.#f.status;
    }
    get ok(): boolean {
      return this.#f.status >= 200 && this.#f.status <= 299;
    }
    get statusText(): string {
      return this.#f.statusText;
    }
    get headers(): Headers {
      return this.#f.headers;
    }
    get url(): string {
      return this.#f.url;
    }
    get redirected(): boolean {
      return this.#f.redirected;
    }
    get type(): string {
      return this.#f.type;
    }
    get bodyUsed(): boolean {
      return this.#used;
    }
    #consume(): Body {
      if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
      if (this.#f.signal?.aborted) throw this.#f.signal.reason;
      if (this.#f.body !== null) this.#used = true;
      return this.#f.body;
    }
    async text(): Promise<string> {
      return bodyText(this.#consume());
    }
    async json(): Promise<unknown> {
      return JSON.parse(bodyText(this.#consume())) as unknown;
    }
    async bytes(): Promise<Uint8Array> {
      return bodyBytes(this.#consume());
    }
    async arrayBuffer(): Promise<ArrayBuffer> {
      return bodyBytes(this.#consume()).buffer as ArrayBuffer;
    }
    async blob(): Promise<never> {
      throw new TypeError('Response.blob() is not available in this sandbox; use arrayBuffer() or bytes()');
    }
    async formData(): Promise<never> {
      throw new TypeError('Response.formData() is not available in this sandbox; use text()');
    }
    clone(): Response {
      if (this.#used) throw new TypeError('Response.clone: Body has already been consumed');
      const from = this.#f.headers;
      const headers = locked.has(from) ? lockedHeaders(from) : new Headers(from);
      return new Response(INTERNAL, { ...this.#f, headers });
    }
    get [Symbol.toStringTag](): string {
      return 'Response';
    }
  }
  const emptyFields = (): Fields => ({
    status: 200,
    statusText: '',
    headers: new Headers(),
    url: '',
    redirected: false,
    type: 'default',
    body: null,
    signal: null,
  });
  const fromHost = (r: HostResponse, signal: Signal | null): Response => {
    const headers = lockedHeaders(r.headers);
    const body: Body =
      r.body === null ? null : r.body.encoding === 'base64' ? { base64: r.body.data } : { text: r.body.data };
    const fields: Fields = { ...r, headers, type: 'basic', body, signal };
    return new Response(INTERNAL, fields);
  };

  // --- Request ---------------------------------------------------------------------------------
  interface Rec {
    url: string;
    method: string;
    headers: Headers;
    body: Body;
    signal: Signal | null;
    redirect: string;
  }
  let recordOf: (r: Request) => Rec = () => {
    throw new TypeError('not a Request');
  };
  const urlOf = (input: unknown): string => {
    const raw = typeof input === 'object' && input !== null && 'href' in input ? input.href : input;
    const s = str(raw).trim();
    const URLCtor = g.URL as (new (u: string) => { href: string }) | undefined;
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(s)) throw new TypeError(`Failed to parse URL from ${s}`);
    return typeof URLCtor === 'function' ? new URLCtor(s).href : s;
  };
  const toRecord = (input: unknown, init: unknown): Rec => {
    const base = input instanceof Request ? recordOf(input) : undefined;
    if (init !== undefined && init !== null && typeof init !== 'object')
      throw new TypeError('fetch: init must be an object');
    const o = (init ?? {}) as Record<string, unknown>;
    const url = base ? base.url : urlOf(input);
    let method = o.method !== undefined ? str(o.method) : (base?.method ?? 'GET');
    if (!TOKEN.test(method)) throw new TypeError(`'${method}' is not a valid HTTP method`);
    const upper = method.toUpperCase();
    if (['CONNECT', 'TRACE', 'TRACK'].includes(upper))
      throw new TypeError(`'${method}' HTTP method is unsupported`);
    if (['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'].includes(upper)) method = upper;
    const headers = new Headers(o.headers !== undefined ? o.headers : base?.headers);
    for (const name of FORBIDDEN) headers.delete(name);
    let body = base?.body ?? null;
    if (o.body !== undefined) {
      const extracted = extractBody(o.body);
      body = extracted.body;
      if (extracted.type !== null && !headers.has('content-type'))
        headers.set('content-type', extracted.type);
    }
    if (body !== null && (method === 'GET' || method === 'HEAD'))
      throw new TypeError('Request with GET/HEAD method cannot have body.');
    const signal = (o.signal !== undefined ? o.signal : (base?.signal ?? null)) as Signal | null;
    if (signal !== null && !(signal instanceof SignalCtor))
      throw new TypeError('fetch: init.signal is not an AbortSignal');
    const redirect = o.redirect !== undefined ? str(o.redirect) : (base?.redirect ?? 'follow');
    if (!['follow', 'error', 'manual'].includes(redirect))
      throw new TypeError(`fetch: init.redirect must be follow, error or manual, got ${redirect}`);
    return { url, method, headers, body, signal, redirect };
  };
  class Request {
    readonly #rec: Rec;
    constructor(input: unknown, init?: unknown) {
      this.#rec = toRecord(input, init);
    }
    static {
      recordOf = (r) => r.#rec;
    }
    get url(): string {
      return this.#rec.url;
    }
    get method(): string {
      return this.#rec.method;
    }
    get headers(): Headers {
      return this.#rec.headers;
    }
    get signal(): Signal | null {
      return this.#rec.signal;
    }
    get redirect(): string {
      return this.#rec.redirect;
    }
    clone(): Request {
      return new Request(this);
    }
    get [Symbol.toStringTag](): string {
      return 'Request';
    }
  }

  // --- fetch -----------------------------------------------------------------------------------
  /** A host error as the web would raise it: TypeError for network failures, AbortError… */
  const webError = (e: unknown): unknown => {
    const err = e as { name?: string; message?: string; code?: string };
    if (err?.name === 'TypeError') {
      const t = new TypeError(err.message) as TypeError & { code?: string };
      if (err.code !== undefined) t.code = err.code;
      return t;
    }
    if (err?.name === 'AbortError')
      return new DOMEx(err.message ?? 'This operation was aborted', 'AbortError');
    return e;
  };
  const encodeBody = (b: Body): { encoding: string; data: string } | undefined => {
    if (b === null) return undefined;
    if ('text' in b && b.text.length <= MAX_BODY / 3) return { encoding: 'utf8', data: b.text };
    const bytes = bodyBytes(b);
    if (bytes.byteLength > MAX_BODY) throw new TypeError(`fetch: the request body exceeds ${MAX_BODY} bytes`);
    return 'text' in b ? { encoding: 'utf8', data: b.text } : { encoding: 'base64', data: toBase64(bytes) };
  };
  let nextId = 0;
  const fetch = (input: unknown, init?: unknown): Promise<Response> => {
    let payload: Record<string, unknown>;
    let signal: Signal | null;
    try {
      const rec = toRecord(input, init);
      signal = rec.signal;
      if (signal?.aborted) return Promise.reject(reason(signal.reason));
      const body = encodeBody(rec.body);
      payload = {
        id: ++nextId,
        url: rec.url,
        method: rec.method,
        headers: [...rec.headers],
        redirect: rec.redirect,
      };
      if (body !== undefined) payload.body = body;
    } catch (e) {
      return Promise.reject(reason(e));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        reject(reason(signal!.reason));
        callHost('fetch.abort', { id: payload.id }).catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort);
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        const first = !settled;
        settled = true;
        return first;
      };
      callHost('fetch', payload).then(
        (value) => {
          if (!done()) return;
          try {
            resolve(fromHost(value as HostResponse, signal));
          } catch (e) {
            reject(reason(e));
          }
        },
        (e) => {
          if (done()) reject(reason(webError(e)));
        },
      );
    });
  };

  hide('Request', Request);
  hide('Response', Response);
  hide('fetch', fetch);
}
