/**
 * Downloads the source of one imported module on the host, on behalf of an isolate that never
 * touches the network: resolves the specifier, authorizes and follows every redirect hop
 * itself, enforces size and time limits while streaming, and hands back JavaScript text
 * (TypeScript already stripped) with the SHA-256 of the bytes that were downloaded.
 */
import { createHash } from 'node:crypto';
import { Mcpv8Error } from '../../core/errors.ts';
import { sharedCellTransformer } from '../cell/cell-transformer.ts';
import type { ModuleCache } from './module-cache.ts';
import { normalizeCdnBase, quoteSpecifier, resolveModuleSpecifier } from './module-specifier.ts';

/** One downloaded module, as handed to the isolate's linker. Immutable. */
export interface ModuleSource {
  /** What the importer wrote, e.g. `npm:lodash-es@4.17.21` or `./util.js`. */
  readonly specifier: string;
  /** The absolute URL the specifier resolved to, before redirects (the cache key). */
  readonly requestedUrl: string;
  /** The URL the source was finally served from; relative imports inside resolve against it. */
  readonly url: string;
  /** JavaScript text; TypeScript has already been stripped. */
  readonly source: string;
  /** Lower-case hex SHA-256 of the body bytes as downloaded (before decoding or stripping). */
  readonly sha256: string;
  /** True when at least one redirect was followed (`url !== requestedUrl`). */
  readonly redirected: boolean;
  /**
   * Every URL requested, `requestedUrl` first and `url` last. Kept so a cache hit can be
   * authorized again hop by hop; absent on sources that were not downloaded by a loader.
   */
  readonly hops?: readonly string[];
}

/**
 * Decides whether the host may request `url` for a module; resolves to allow and throws
 * (MCPV8_ERR_POLICY_DENIED) to deny. Must honour `signal`.
 */
export type AuthorizeModuleUrl = (url: URL, signal: AbortSignal) => Promise<void>;

/** Construction options of a {@link ModuleSourceLoader}. */
export interface ModuleSourceLoaderOptions {
  /** Base URL `npm:`, `jsr:` and bare specifiers resolve through, e.g. `https://esm.sh`. */
  readonly cdnBase: string;
  /** Called before the first request and before every redirect hop, and again on cache hits. */
  readonly authorize?: AuthorizeModuleUrl;
  /** Most redirects followed per module; default 5. */
  readonly maxRedirects?: number;
  /** Most body bytes read per module; default 5 MiB. */
  readonly maxSourceBytes?: number;
  /** Budget for authorizing, requesting and reading one module, all hops included; default 15 s. */
  readonly timeoutMs?: number;
  /** Shared cache consulted before downloading and filled after; none by default. */
  readonly cache?: ModuleCache;
  /** Fetch implementation; the global (undici) fetch by default. */
  readonly fetch?: typeof fetch;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TYPESCRIPT_PATH = /\.(?:ts|mts|cts|tsx)$/i;
// Types a server would never use for a script; anything else unknown is given the benefit of the doubt.
const NOT_SCRIPT =
  /^(?:text\/(?:html|css|xml|csv)|application\/(?:xhtml\+xml|xml|json|pdf|zip|gzip|wasm)|image\/|audio\/|video\/|font\/|multipart\/)/;
// Common web servers serve `.ts` as an MPEG transport stream; Deno accepts these too.
const TS_AS_VIDEO = new Set(['video/mp2t', 'video/vnd.dlna.mpeg-tts']);

const REQUEST_HEADERS = {
  accept:
    'application/javascript, text/javascript, application/typescript;q=0.9, text/plain;q=0.5, */*;q=0.1',
  // esm.sh picks its build target from the User-Agent: undici's default ("node") would get
  // builds importing `node:` built-ins, which the isolate cannot load. "ES/2024" asks for plain ES2024.
  'user-agent': 'ES/2024',
};

interface Flight {
  readonly controller: AbortController;
  readonly promise: Promise<ModuleSource>;
  waiters: number;
  settled: boolean;
}

/** Where a download stands, so a timeout can name the URL it was stuck on. */
interface Progress {
  url: URL;
}

/**
 * Loads module sources over http(s) for the isolate's linker.
 *
 * Concurrency: `load` may be called concurrently; loads of the same resolved URL share one
 * download, which is cancelled only when every caller waiting for it has aborted. Cache hits
 * are still authorized (every recorded hop), so a cache shared between sessions with
 * different policies does not leak modules.
 */
export class ModuleSourceLoader {
  readonly #cdnBase: string;
  readonly #authorize: AuthorizeModuleUrl | undefined;
  readonly #maxRedirects: number;
  readonly #maxSourceBytes: number;
  readonly #timeoutMs: number;
  readonly #cache: ModuleCache | undefined;
  readonly #fetch: typeof fetch;
  readonly #inFlight = new Map<string, Flight>();

  /** @throws {Mcpv8Error} MCPV8_ERR_CONFIG_INVALID for an invalid CDN base or limit. */
  constructor(opts: ModuleSourceLoaderOptions) {
    this.#cdnBase = normalizeCdnBase(opts.cdnBase);
    this.#authorize = opts.authorize;
    this.#maxRedirects = integer('maxRedirects', opts.maxRedirects ?? 5, 0);
    this.#maxSourceBytes = integer('maxSourceBytes', opts.maxSourceBytes ?? 5 * 1024 * 1024, 1);
    this.#timeoutMs = integer('timeoutMs', opts.timeoutMs ?? 15_000, 1);
    this.#cache = opts.cache;
    // Looked up per call rather than captured, so a test (or instrumentation) can swap the global.
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /**
   * Resolves `specifier` against `parentUrl` and returns the module's source, from the cache
   * or downloaded.
   *
   * @param parentUrl final URL of the importing module; `undefined` for a cell.
   * @param signal aborts this call (rejecting with `signal.reason`); the shared download goes
   *   on while other callers still wait for it.
   * @throws {Mcpv8Error} MCPV8_ERR_MODULE_SPECIFIER_INVALID (see {@link resolveModuleSpecifier}),
   *   MCPV8_ERR_POLICY_DENIED (from `authorize`, or a redirect from https to http or to a
   *   non-http(s) URL), MCPV8_ERR_MODULE_REDIRECT_LIMIT, MCPV8_ERR_MODULE_NOT_FOUND (4xx),
   *   MCPV8_ERR_MODULE_FETCH_FAILED (5xx, network error, timeout), MCPV8_ERR_MODULE_TOO_LARGE,
   *   MCPV8_ERR_MODULE_INVALID (not UTF-8, not a script content-type, TypeScript that cannot be
   *   stripped).
   */
  async load(specifier: string, parentUrl: string | undefined, signal: AbortSignal): Promise<ModuleSource> {
    signal.throwIfAborted();
    const requestedUrl = resolveModuleSpecifier(specifier, parentUrl, this.#cdnBase);

    const cached = this.#cache?.get(requestedUrl);
    if (cached !== undefined) {
      if (this.#authorize !== undefined) {
        for (const hop of cached.hops ?? new Set([cached.requestedUrl, cached.url])) {
          await this.#authorize(new URL(hop), signal);
        }
      }
      return cached.specifier === specifier ? cached : Object.freeze({ ...cached, specifier });
    }

    const flight = this.#inFlight.get(requestedUrl) ?? this.#start(specifier, requestedUrl);
    flight.waiters++;
    try {
      const loaded = await untilAborted(flight.promise, signal);
      return loaded.specifier === specifier ? loaded : Object.freeze({ ...loaded, specifier });
    } finally {
      flight.waiters--;
      if (flight.waiters === 0 && !flight.settled) {
        // Nobody wants it any more: stop the download, and let the next caller start afresh.
        if (this.#inFlight.get(requestedUrl) === flight) this.#inFlight.delete(requestedUrl);
        flight.controller.abort(signal.reason);
      }
    }
  }

  #start(specifier: string, requestedUrl: string): Flight {
    const controller = new AbortController();
    const settle = (): void => {
      flight.settled = true;
      if (this.#inFlight.get(requestedUrl) === flight) this.#inFlight.delete(requestedUrl);
    };
    const promise = this.#download(specifier, requestedUrl, controller.signal).then(
      (loaded) => {
        settle();
        this.#cache?.set(requestedUrl, loaded);
        return loaded;
      },
      (err: unknown) => {
        settle();
        throw err;
      },
    );
    const flight: Flight = { controller, promise, waiters: 0, settled: false };
    // Waiters observe the outcome; this only keeps an abandoned download from being unhandled.
    promise.catch(() => undefined);
    this.#inFlight.set(requestedUrl, flight);
    return flight;
  }

  async #download(specifier: string, requestedUrl: string, cancel: AbortSignal): Promise<ModuleSource> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = AbortSignal.any([cancel, timeout]);
    const progress: Progress = { url: new URL(requestedUrl) };
    try {
      return await this.#follow(specifier, requestedUrl, progress, signal);
    } catch (err) {
      if (timeout.aborted && !cancel.aborted && !(err instanceof Mcpv8Error)) {
        throw new Mcpv8Error(
          'MCPV8_ERR_MODULE_FETCH_FAILED',
          [
            quoteSpecifier(specifier),
            `${progress.url.href} did not answer completely within ${this.#timeoutMs} ms`,
          ],
          { cause: err, details: { url: progress.url.href, timeoutMs: this.#timeoutMs } },
        );
      }
      throw err;
    }
  }

  async #follow(
    specifier: string,
    requestedUrl: string,
    progress: Progress,
    signal: AbortSignal,
  ): Promise<ModuleSource> {
    const spec = quoteSpecifier(specifier);
    const hops: string[] = [];
    let url = progress.url;
    for (;;) {
      await this.#authorize?.(url, signal);
      signal.throwIfAborted();
      hops.push(url.href);

      let res: Response;
      try {
        res = await this.#fetch(url, { redirect: 'manual', signal, headers: REQUEST_HEADERS });
      } catch (err) {
        // An Mcpv8Error is a refusal already made (an egress broker's policy answer): kept as is.
        if (signal.aborted || err instanceof Mcpv8Error) throw err;
        throw new Mcpv8Error(
          'MCPV8_ERR_MODULE_FETCH_FAILED',
          [spec, `GET ${url.href} failed: ${cause(err)}`],
          {
            cause: err,
            details: { url: url.href },
          },
        );
      }

      if (REDIRECT_STATUSES.has(res.status)) {
        await discard(res);
        if (hops.length > this.#maxRedirects) {
          throw new Mcpv8Error('MCPV8_ERR_MODULE_REDIRECT_LIMIT', [spec, this.#maxRedirects], {
            details: { hops, maxRedirects: this.#maxRedirects },
          });
        }
        url = this.#redirectTarget(spec, url, res);
        progress.url = url;
        continue;
      }

      if (!res.ok) {
        await discard(res);
        if (res.status >= 400 && res.status < 500) {
          throw new Mcpv8Error('MCPV8_ERR_MODULE_NOT_FOUND', [spec, url.href, res.status], {
            details: { url: url.href, status: res.status },
          });
        }
        throw new Mcpv8Error('MCPV8_ERR_MODULE_FETCH_FAILED', [spec, `${url.href} answered ${res.status}`], {
          details: { url: url.href, status: res.status },
        });
      }

      const { source, sha256 } = await this.#readSource(spec, url, res, signal);
      return Object.freeze({
        specifier,
        requestedUrl,
        url: url.href,
        source,
        sha256,
        redirected: hops.length > 1,
        hops: Object.freeze(hops),
      });
    }
  }

  /** The validated next URL of a redirect response. */
  #redirectTarget(spec: string, from: URL, res: Response): URL {
    const location = res.headers.get('location');
    if (location === null) {
      throw new Mcpv8Error(
        'MCPV8_ERR_MODULE_FETCH_FAILED',
        [spec, `${from.href} answered ${res.status} without a Location header`],
        { details: { url: from.href, status: res.status } },
      );
    }
    const to = URL.parse(location, from.href);
    const deny = (reason: string): never => {
      throw new Mcpv8Error(
        'MCPV8_ERR_POLICY_DENIED',
        [`module redirect from ${from.href} to ${location}`, reason],
        {
          details: { from: from.href, to: location },
        },
      );
    };
    if (to === null || (to.protocol !== 'https:' && to.protocol !== 'http:')) {
      return deny('modules can only be downloaded over http(s)');
    }
    if (to.username !== '' || to.password !== '') return deny('module URLs may not carry credentials');
    if (from.protocol === 'https:' && to.protocol === 'http:') {
      return deny('a module requested over https may not be redirected to plain http');
    }
    return to;
  }

  /** Streams the body within the size limit, hashes it, decodes it and strips TypeScript. */
  async #readSource(
    spec: string,
    url: URL,
    res: Response,
    signal: AbortSignal,
  ): Promise<{ source: string; sha256: string }> {
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const kind = sourceKind(mediaType, url.pathname);
    if (kind === undefined) {
      await discard(res);
      throw new Mcpv8Error(
        'MCPV8_ERR_MODULE_INVALID',
        [spec, `${url.href} is served as ${mediaType}, which is not JavaScript or TypeScript`],
        { details: { url: url.href, contentType: mediaType } },
      );
    }

    const tooLarge = (): Mcpv8Error =>
      new Mcpv8Error('MCPV8_ERR_MODULE_TOO_LARGE', [spec, this.#maxSourceBytes], {
        details: { url: url.href, maxSourceBytes: this.#maxSourceBytes },
      });
    // A declared length is only trustworthy for the decoded size when nothing is compressed.
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (res.headers.get('content-encoding') === null && declared > this.#maxSourceBytes) {
      await discard(res);
      throw tooLarge();
    }

    const hash = createHash('sha256');
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body !== null) {
      // Typed explicitly: the global Response types its body as a stream of `any`.
      const reader: ReadableStreamDefaultReader<Uint8Array> = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > this.#maxSourceBytes) {
          // Cancelling closes the connection instead of draining the rest of the body.
          await reader.cancel().catch(() => undefined);
          throw tooLarge();
        }
        hash.update(value);
        chunks.push(value);
      }
    }

    let source: string;
    try {
      source = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, total));
    } catch (err) {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [spec, `${url.href} is not valid UTF-8 text`], {
        cause: err,
        details: { url: url.href },
      });
    }
    if (kind === 'ts') {
      try {
        // In a bounded worker: a module whose types break the stripper must not break it for others.
        source = await sharedCellTransformer().stripTypeScript(source, { deadline: Infinity, signal });
      } catch (err) {
        throw new Mcpv8Error(
          'MCPV8_ERR_MODULE_INVALID',
          [
            spec,
            `${url.href} is TypeScript that cannot be stripped: ${err instanceof Error ? err.message : String(err)}`,
          ],
          { cause: err, details: { url: url.href } },
        );
      }
    }
    return { source, sha256: hash.digest('hex') };
  }
}

/**
 * 'js', 'ts', or undefined for a body that is clearly not a script. An explicit JavaScript
 * type wins over a `.ts` path (esm.sh serves compiled TypeScript from `.ts` URLs).
 */
function sourceKind(mediaType: string, pathname: string): 'js' | 'ts' | undefined {
  const tsPath = TYPESCRIPT_PATH.test(pathname);
  if (mediaType.includes('typescript') || mediaType === 'text/tsx') return 'ts';
  if (/(?:java|ecma)script|jsx/.test(mediaType)) return 'js';
  if (TS_AS_VIDEO.has(mediaType)) return tsPath ? 'ts' : undefined;
  if (NOT_SCRIPT.test(mediaType)) return undefined;
  return tsPath ? 'ts' : 'js';
}

/** Releases a response's connection without reading what is left of its body. */
async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** Waits for `promise` but gives up with `signal.reason` as soon as `signal` aborts. */
export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  const aborted = Promise.withResolvers<undefined>();
  const onAbort = (): void => aborted.resolve(undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const outcome = await Promise.race([promise.then((value) => ({ value })), aborted.promise]);
    if (outcome === undefined) signal.throwIfAborted();
    return outcome!.value;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** The most telling part of an error: undici hides the system error (ECONNREFUSED…) in `cause`. */
function cause(err: unknown): string {
  const inner: unknown = err instanceof Error && err.cause !== undefined ? err.cause : err;
  return inner instanceof Error ? inner.message : String(inner);
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `module loader ${name} must be an integer >= ${min}, got ${value}`,
    ]);
  }
  return value;
}
