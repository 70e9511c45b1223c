import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Mcpv8Error, isMcpv8Error, type ErrorCode } from '../../../src/core/errors.ts';
import { freePort } from '../../harness/free-port.ts';
import { ModuleCache } from '../../../src/runner/modules/module-cache.ts';
import {
  ModuleSourceLoader,
  type ModuleSourceLoaderOptions,
} from '../../../src/runner/modules/module-source-loader.ts';

const JS = 'application/javascript; charset=utf-8';
const PKG_SOURCE = 'export default 42;\n';
const TS_SOURCE = [
  'enum Color { Red, Green }',
  'interface Point { x: number; y: number }',
  'export function add(a: number, b: number): number { return a + b; }',
  'export const green: Color = Color.Green;',
  'export const origin = { x: 0, y: 0 } satisfies Point;',
  '',
].join('\n');
const HUGE_TOTAL = 64 * 1024 * 1024;

/** Requests per path, so tests can tell whether the loader went to the network. */
const hits = new Map<string, number>();
/** What the oversized-body route saw. */
const huge = { written: 0, closed: false, finished: false };
/** Responses parked forever by the "hang" routes, with whether their client went away. */
const hanging: { path: string; closed: boolean }[] = [];

let server: Server;
let base: string;

function send(res: ServerResponse, status: number, type: string | undefined, body: string | Buffer): void {
  res.writeHead(status, type === undefined ? {} : { 'content-type': type });
  res.end(body);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const chain = /^\/chain\/(\d+)$/.exec(path);
  if (chain !== null) {
    res.writeHead(302, { location: `/chain/${Number(chain[1]) + 1}` }).end();
    return;
  }
  switch (path) {
    case '/pkg@1.0.0':
    case '/counted@1.0.0':
    case '/jsr/@std/path@1.0.0':
    case '/mod/dep.js':
    case '/root@2.0.0/es2022/root.mjs':
      return send(res, 200, JS, `${PKG_SOURCE}// ${path}\n`);
    case '/no-type.js':
      return send(res, 200, undefined, PKG_SOURCE);
    case '/mod/typed.ts':
      // nginx and friends serve .ts as an MPEG transport stream.
      return send(res, 200, 'video/mp2t', TS_SOURCE);
    case '/typed-by-type':
      return send(res, 200, 'application/typescript', TS_SOURCE);
    case '/compiled.ts':
      return send(res, 200, JS, 'const a = 1 < 2;\nexport default a;\n');
    case '/broken.ts':
      return send(res, 200, 'text/plain', 'const x: = 1;');
    case '/redirect/one':
      res.writeHead(301, { location: '/pkg@1.0.0' }).end();
      return;
    case '/hop/a':
      res.writeHead(307, { location: `${base}/hop/b` }).end();
      return;
    case '/hop/b':
      res.writeHead(302, { location: '../denied/c' }).end();
      return;
    case '/redirect/nowhere':
      res.writeHead(302).end();
      return;
    case '/redirect/file':
      res.writeHead(302, { location: 'file:///etc/passwd' }).end();
      return;
    case '/missing@1.0.0':
      return send(res, 404, 'text/plain', 'not found');
    case '/gone':
      return send(res, 410, 'text/plain', 'gone');
    case '/boom':
      return send(res, 500, 'text/plain', 'internal error');
    case '/bad-utf8.js':
      return send(res, 200, JS, Buffer.from([0x65, 0x78, 0xff, 0xfe, 0x0a]));
    case '/page':
      return send(res, 200, 'text/html; charset=utf-8', '<!doctype html><p>hello</p>');
    case '/logo.png':
      return send(res, 200, 'image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    case '/declared-huge.js':
      res.writeHead(200, { 'content-type': JS, 'content-length': String(HUGE_TOTAL) });
      res.write('// more to come\n');
      req.socket.on('close', () => res.destroy());
      return;
    case '/huge.js': {
      // No content-length: the loader has to count while streaming.
      res.writeHead(200, { 'content-type': JS });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      res.on('close', () => {
        huge.closed = true;
        huge.finished = res.writableFinished;
      });
      const pump = (): void => {
        while (huge.written < HUGE_TOTAL && !res.destroyed) {
          huge.written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
      return;
    }
    case '/slow-ok@1.0.0':
      setTimeout(() => send(res, 200, JS, PKG_SOURCE), 150);
      return;
    case '/stall-body.js':
      res.writeHead(200, { 'content-type': JS });
      res.write('export const partial = ');
      break;
    case '/hang.js':
      break;
    default:
      return send(res, 404, 'text/plain', 'no route');
  }
  // Parked: never answered (or never finished); record when the client gives up.
  const entry = { path, closed: false };
  hanging.push(entry);
  res.on('close', () => (entry.closed = true));
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  hits.clear();
});

function loader(opts: Partial<ModuleSourceLoaderOptions> = {}): ModuleSourceLoader {
  // A trailing slash on purpose: the loader normalises it away.
  return new ModuleSourceLoader({ cdnBase: `${base}/`, timeoutMs: 5_000, ...opts });
}

const signal = (): AbortSignal => new AbortController().signal;

async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<Mcpv8Error> {
  const err = await promise.then(
    () => new Error('expected the load to fail'),
    (e: unknown) => e,
  );
  if (!isMcpv8Error(err, code)) throw err;
  return err;
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('ModuleSourceLoader', () => {
  it('downloads an npm: specifier from the CDN', async () => {
    const mod = await loader().load('npm:pkg@1.0.0', undefined, signal());
    expect(mod).toMatchObject({
      specifier: 'npm:pkg@1.0.0',
      requestedUrl: `${base}/pkg@1.0.0`,
      url: `${base}/pkg@1.0.0`,
      redirected: false,
      hops: [`${base}/pkg@1.0.0`],
    });
    expect(mod.source).toBe(`${PKG_SOURCE}// /pkg@1.0.0\n`);
    expect(mod.sha256).toBe(sha256(mod.source));
  });

  it('maps jsr: to <cdn>/jsr/', async () => {
    const mod = await loader().load('jsr:@std/path@1.0.0', undefined, signal());
    expect(mod.url).toBe(`${base}/jsr/@std/path@1.0.0`);
    expect(mod.source).toContain('/jsr/@std/path@1.0.0');
  });

  it('resolves relative and root-absolute imports against the parent module', async () => {
    const parent = `${base}/mod/main.js`;
    const dep = await loader().load('./dep.js', parent, signal());
    expect(dep.url).toBe(`${base}/mod/dep.js`);
    const root = await loader().load('/root@2.0.0/es2022/root.mjs', parent, signal());
    expect(root.url).toBe(`${base}/root@2.0.0/es2022/root.mjs`);
    expect(root.source).toContain('export default 42');
  });

  it('accepts a response without content-type', async () => {
    const mod = await loader().load(`${base}/no-type.js`, undefined, signal());
    expect(mod.source).toBe(PKG_SOURCE);
  });

  it('strips TypeScript served from a .ts path, and the result runs', async () => {
    const mod = await loader().load(`${base}/mod/typed.ts`, undefined, signal());
    expect(mod.source).not.toMatch(/: number|interface|satisfies/);
    expect(mod.sha256).toBe(sha256(TS_SOURCE));
    // A script, not a module, so drop the export keywords to run it in a fresh context.
    const script = `${mod.source.replace(/^export /gm, '')}\n[add(2, 3), green, origin.x];`;
    expect(runInNewContext(script) as unknown).toEqual([5, 1, 0]);
  });

  it('strips TypeScript identified by content-type, but not JavaScript served from a .ts path', async () => {
    const typed = await loader().load(`${base}/typed-by-type`, undefined, signal());
    expect(typed.source).not.toContain('interface');
    const compiled = await loader().load(`${base}/compiled.ts`, undefined, signal());
    expect(compiled.source).toBe('const a = 1 < 2;\nexport default a;\n');
  });

  it('reports TypeScript that cannot be stripped with Node’s message', async () => {
    const err = await failure(
      loader().load(`${base}/broken.ts`, undefined, signal()),
      'MCPV8_ERR_MODULE_INVALID',
    );
    expect(err.message).toMatch(/broken\.ts is TypeScript that cannot be stripped: .*Unexpected token/);
  });

  it('follows a redirect and reports the final URL', async () => {
    const mod = await loader().load(`${base}/redirect/one`, undefined, signal());
    expect(mod).toMatchObject({
      requestedUrl: `${base}/redirect/one`,
      url: `${base}/pkg@1.0.0`,
      redirected: true,
      hops: [`${base}/redirect/one`, `${base}/pkg@1.0.0`],
    });
  });

  it('gives up after maxRedirects redirects', async () => {
    const err = await failure(
      loader({ maxRedirects: 3 }).load(`${base}/chain/0`, undefined, signal()),
      'MCPV8_ERR_MODULE_REDIRECT_LIMIT',
    );
    expect(err.message).toMatch(/more than 3 redirects/);
    expect([...hits.keys()]).toEqual(['/chain/0', '/chain/1', '/chain/2', '/chain/3']);
  });

  it('authorizes every hop and stops at the first denied one', async () => {
    const seen: string[] = [];
    const authorize = async (url: URL): Promise<void> => {
      seen.push(url.href);
      if (url.pathname.startsWith('/denied/')) {
        throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [`import ${url.href}`, 'host not allowed']);
      }
    };
    await failure(
      loader({ authorize }).load(`${base}/hop/a`, undefined, signal()),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(seen).toEqual([`${base}/hop/a`, `${base}/hop/b`, `${base}/denied/c`]);
    expect(hits.has('/denied/c')).toBe(false);
  });

  it('refuses a redirect from https to http', async () => {
    const fakeFetch = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (url.protocol === 'https:') {
        return new Response(null, { status: 302, headers: { location: `${base}/pkg@1.0.0` } });
      }
      return fetch(input, init);
    });
    const err = await failure(
      loader({ fetch: fakeFetch }).load('https://secure.example/mod.js', undefined, signal()),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(err.message).toMatch(/https may not be redirected to plain http/);
    expect(fakeFetch).toHaveBeenCalledTimes(1);
    expect(fakeFetch.mock.calls[0]![1]).toMatchObject({ redirect: 'manual' });
  });

  it('refuses redirects to non-http(s) URLs and redirects without Location', async () => {
    await failure(loader().load(`${base}/redirect/file`, undefined, signal()), 'MCPV8_ERR_POLICY_DENIED');
    await failure(
      loader().load(`${base}/redirect/nowhere`, undefined, signal()),
      'MCPV8_ERR_MODULE_FETCH_FAILED',
    );
  });

  it('reports 404 and 410 as not found, naming the URL', async () => {
    const err = await failure(
      loader().load('npm:missing@1.0.0', undefined, signal()),
      'MCPV8_ERR_MODULE_NOT_FOUND',
    );
    expect(err.message).toBe(`cannot import "npm:missing@1.0.0": ${base}/missing@1.0.0 answered 404`);
    await failure(loader().load(`${base}/gone`, undefined, signal()), 'MCPV8_ERR_MODULE_NOT_FOUND');
  });

  it('reports 5xx and network errors as retryable fetch failures', async () => {
    const err = await failure(
      loader().load(`${base}/boom`, undefined, signal()),
      'MCPV8_ERR_MODULE_FETCH_FAILED',
    );
    expect(err.message).toContain(`${base}/boom answered 500`);
    expect(err.retryable).toBe(true);
    // A port just released: nothing listens, the connection is refused.
    const refused = await failure(
      loader().load(`http://127.0.0.1:${await freePort()}/x.js`, undefined, signal()),
      'MCPV8_ERR_MODULE_FETCH_FAILED',
    );
    expect(refused.message).toMatch(/ECONNREFUSED/);
  });

  it.each(['/hang.js', '/stall-body.js'])('times out on %s quickly', async (path) => {
    const started = performance.now();
    const err = await failure(
      loader({ timeoutMs: 200 }).load(`${base}${path}`, undefined, signal()),
      'MCPV8_ERR_MODULE_FETCH_FAILED',
    );
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(err.message).toContain(`${base}${path} did not answer completely within 200 ms`);
    await vi.waitFor(() => expect(hanging.find((h) => h.path === path)?.closed).toBe(true));
  });

  it('stops reading an oversized body and closes the connection', async () => {
    const err = await failure(
      loader({ maxSourceBytes: 1024 * 1024 }).load(`${base}/huge.js`, undefined, signal()),
      'MCPV8_ERR_MODULE_TOO_LARGE',
    );
    expect(err.message).toMatch(/source exceeds 1048576 bytes/);
    await vi.waitFor(() => expect(huge.closed).toBe(true));
    expect(huge.finished).toBe(false);
    expect(huge.written).toBeLessThan(HUGE_TOTAL / 4);
  });

  it('refuses a declared content-length beyond the limit without reading', async () => {
    await failure(
      loader({ maxSourceBytes: 1024 }).load(`${base}/declared-huge.js`, undefined, signal()),
      'MCPV8_ERR_MODULE_TOO_LARGE',
    );
  });

  it('rejects invalid UTF-8', async () => {
    const err = await failure(
      loader().load(`${base}/bad-utf8.js`, undefined, signal()),
      'MCPV8_ERR_MODULE_INVALID',
    );
    expect(err.message).toMatch(/not valid UTF-8/);
  });

  it.each([
    ['/page', 'text/html'],
    ['/logo.png', 'image/png'],
  ])('rejects %s served as %s', async (path, type) => {
    const err = await failure(
      loader().load(`${base}${path}`, undefined, signal()),
      'MCPV8_ERR_MODULE_INVALID',
    );
    expect(err.message).toContain(`served as ${type}`);
  });

  it('answers from the cache without a request, authorizing again, and finds the source by hash', async () => {
    const cache = new ModuleCache();
    const seen: string[] = [];
    const l = loader({
      cache,
      authorize: async (url) => {
        seen.push(url.href);
      },
    });
    const first = await l.load('npm:counted@1.0.0', undefined, signal());
    const second = await l.load(`${base}/counted@1.0.0`, undefined, signal());
    expect(hits.get('/counted@1.0.0')).toBe(1);
    expect(second.source).toBe(first.source);
    expect(second.specifier).toBe(`${base}/counted@1.0.0`);
    expect(seen).toEqual([`${base}/counted@1.0.0`, `${base}/counted@1.0.0`]);
    expect(cache.bySha(first.sha256)?.source).toBe(first.source);

    // A loader with a stricter policy sharing the cache is still refused.
    const strict = loader({
      cache,
      authorize: async (url) => {
        throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [`import ${url.href}`, 'nothing allowed']);
      },
    });
    await failure(strict.load('npm:counted@1.0.0', undefined, signal()), 'MCPV8_ERR_POLICY_DENIED');
  });

  it('computes the SHA-256 of the downloaded bytes', async () => {
    const mod = await loader().load('npm:pkg@1.0.0', undefined, signal());
    expect(mod.sha256).toBe(sha256(Buffer.from(`${PKG_SOURCE}// /pkg@1.0.0\n`, 'utf8')));
  });

  it('shares one download between concurrent loads of the same URL', async () => {
    const l = loader();
    const mods = await Promise.all([
      l.load('npm:slow-ok@1.0.0', undefined, signal()),
      l.load('npm:slow-ok@1.0.0', undefined, signal()),
      l.load(`${base}/slow-ok@1.0.0`, undefined, signal()),
      l.load('slow-ok@1.0.0', undefined, signal()),
    ]);
    expect(hits.get('/slow-ok@1.0.0')).toBe(1);
    expect(new Set(mods.map((m) => m.sha256)).size).toBe(1);
    expect(mods.map((m) => m.specifier)).toEqual([
      'npm:slow-ok@1.0.0',
      'npm:slow-ok@1.0.0',
      `${base}/slow-ok@1.0.0`,
      'slow-ok@1.0.0',
    ]);
  });

  it('keeps a shared download going while one of its callers aborts', async () => {
    const l = loader();
    const quitter = new AbortController();
    const abandoned = l.load('npm:slow-ok@1.0.0', undefined, quitter.signal);
    const kept = l.load('npm:slow-ok@1.0.0', undefined, signal());
    quitter.abort();
    await expect(abandoned).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kept).resolves.toMatchObject({ source: PKG_SOURCE });
    expect(hits.get('/slow-ok@1.0.0')).toBe(1);
  });

  it('aborts via the signal and closes the request', async () => {
    const ac = new AbortController();
    const started = performance.now();
    const pending = loader().load(`${base}/hang.js`, undefined, ac.signal);
    await vi.waitFor(() => expect(hits.get('/hang.js')).toBe(1));
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(2_000);
    await vi.waitFor(() =>
      expect(hanging.filter((h) => h.path === '/hang.js').every((h) => h.closed)).toBe(true),
    );
    await expect(loader().load('npm:pkg@1.0.0', undefined, AbortSignal.abort())).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('rejects invalid specifiers before any request', async () => {
    await failure(loader().load('node:fs', undefined, signal()), 'MCPV8_ERR_MODULE_SPECIFIER_INVALID');
    expect(hits.size).toBe(0);
  });

  it('rejects invalid options as configuration errors', () => {
    expect(() => loader({ cdnBase: 'file:///cdn' })).toThrow(/module CDN base/);
    expect(() => loader({ maxRedirects: -1 })).toThrow(/maxRedirects/);
    expect(() => loader({ timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
