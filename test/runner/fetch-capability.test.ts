// The in-isolate fetch() end to end inside a real sandbox against a local HTTP server, with a
// policy engine stand-in that allows paths under /public/ and records what it was asked (the
// real OPA engine through runner processes: test/integration/fetch.int.test.ts).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Mcpv8Error, type PolicyEngine, type PolicyInput } from '../../src/core/index.ts';
import { executeCell } from '../../src/runner/execute-cell.ts';
import { executionHostCalls } from '../../src/runner/host/capabilities.ts';
import { createFetchCapability, type FetchOptions } from '../../src/runner/host/fetch-capability.ts';
import { LiveRecorder, ReplayRecorder, type Recorder } from '../../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../src/runner/runner-process.ts';
import { Sandbox } from '../../src/runner/sandbox/sandbox.ts';
import { startFetchTestServer, type FetchTestServer } from '../harness/fetch-test-server.ts';

const SECRET = 'Bearer s3cr3t-injected-token';
let server: FetchTestServer;
let asked: PolicyInput[];

/** Allows GET/POST/PUT/HEAD under /public/, like the seed's example policy. */
const policy: PolicyEngine = {
  has: (c) => c === 'fetch',
  authorize: async (_c, input) => {
    asked.push(input);
    const path = (input.url_parsed as { path: string }).path;
    if (!path.startsWith('/public/'))
      throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [
        `fetch ${String(input.method)} ${String(input.url)}`,
        'path',
      ]);
  },
};

const sandboxes: Sandbox[] = [];
beforeAll(async () => {
  server = await startFetchTestServer();
});
afterAll(async () => {
  await server?.close();
});
beforeEach(() => {
  asked = [];
  server.received.length = 0;
});
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});

async function run(
  code: string,
  opts: { recorder?: Recorder; fetch?: FetchOptions; timeoutMs?: number } = {},
) {
  const { wasmModules: _none, ...defaults } = DEFAULT_RUNNER_OPTIONS;
  const sandbox = await Sandbox.create({ ...defaults, heapMb: 32, capabilities: ['fetch'] });
  sandboxes.push(sandbox);
  const capability = createFetchCapability(opts.fetch, policy);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return executeCell(
    { code: `const O = ${JSON.stringify(server.origin)};\n${code}`, language: 'javascript', timeoutMs },
    {
      sandbox,
      recorder: opts.recorder ?? new LiveRecorder(),
      signal: new AbortController().signal,
      maxOutputBytes: 1 << 20,
      onOutput: () => {},
      hostCall: executionHostCalls([capability], { executionId: 'x', deadline: Date.now() + timeoutMs }),
    },
  );
}

async function value(code: string, opts?: Parameters<typeof run>[1]): Promise<unknown> {
  const outcome = await run(code, opts);
  if (outcome.status !== 'completed') throw new Error(`${outcome.status}: ${JSON.stringify(outcome.error)}`);
  return outcome.result === undefined ? undefined : JSON.parse(outcome.result);
}

/** A cell expression reporting how `expr` failed: name, code, message and web class. */
const failure = (expr: string) =>
  `await ${expr}.then(() => 'no error', (e) => ({ name: e.name, code: e.code, message: e.message, typeError: e instanceof TypeError }))`;

const rules = (extra: Partial<FetchOptions> = {}): FetchOptions => ({
  headerRules: [{ host: '127.0.0.1', headers: { 'X-Secret': SECRET, Authorization: SECRET } }],
  ...extra,
});

describe('fetch in a sandbox', () => {
  it('GETs text and JSON (the seed examples)', async () => {
    const result = await value(`
      const r = await fetch(O + '/public/hello');
      const j = await fetch(O + '/public/json');
      ({
        status: r.status, ok: r.ok, statusText: r.statusText, url: r.url, redirected: r.redirected,
        type: r.type, ct: r.headers.get('Content-Type'), has: r.headers.has('x-custom'),
        text: await r.text(), used: r.bodyUsed, json: await j.json(),
      })
    `);
    expect(result).toEqual({
      status: 200,
      ok: true,
      statusText: 'OK',
      url: `${server.origin}/public/hello`,
      redirected: false,
      type: 'basic',
      ct: 'text/plain; charset=utf-8',
      has: true,
      text: 'hello',
      used: true,
      json: { a: 1, list: [1, 2] },
    });
    expect(asked[0]).toEqual({
      operation: 'fetch',
      url: `${server.origin}/public/hello`,
      method: 'GET',
      headers: {},
      url_parsed: { scheme: 'http', host: '127.0.0.1', port: server.port, path: '/public/hello', query: '' },
    });
  });

  it('POSTs a JSON body with the code’s headers (names lower-cased for the policy)', async () => {
    const result = await value(`
      const r = await fetch(O + '/public/echo?x=1', {
        method: 'post',
        headers: { 'Content-Type': 'application/json', 'X-Trace': 'abc' },
        body: JSON.stringify({ key: 'value' }),
      });
      await r.json()
    `);
    expect(result).toMatchObject({
      method: 'POST',
      body: '{"key":"value"}',
      headers: { 'content-type': 'application/json', 'x-trace': 'abc' },
    });
    expect(asked[0]).toMatchObject({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-trace': 'abc' },
      url_parsed: { path: '/public/echo', query: 'x=1' },
    });
  });

  it('sends binary and text bodies with the web’s content types, and reads binary responses', async () => {
    const result = await value(`
      const bin = await (await fetch(O + '/public/binary')).arrayBuffer();
      const sent = await (await fetch(O + '/public/echo', { method: 'PUT', body: new Uint8Array([0, 255, 128, 10]) })).json();
      const txt = await (await fetch(O + '/public/echo', { method: 'POST', body: 'héllo' })).json();
      const part = await (await fetch(O + '/public/echo', { method: 'POST', body: new Uint8Array([1, 2, 3, 4]).subarray(1, 3) })).json();
      ({ len: bin.byteLength, last: new Uint8Array(bin)[255], sent: sent.base64, ct: sent.headers['content-type'] ?? null,
         txt: txt.body, txtCt: txt.headers['content-type'], part: part.base64 })
    `);
    expect(result).toEqual({
      len: 256,
      last: 255,
      sent: Buffer.from([0, 255, 128, 10]).toString('base64'),
      ct: null,
      txt: 'héllo',
      txtCt: 'text/plain;charset=UTF-8',
      part: Buffer.from([2, 3]).toString('base64'),
    });
  });

  it('rejects a denied request with the policy’s message, before any request is made', async () => {
    const result = await value(failure(`fetch(O + '/private/x')`));
    expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
    expect((result as { message: string }).message).toContain('denied by policy');
    expect(server.received).toHaveLength(0);
  });

  it('authorizes every redirect hop: allowed → allowed is followed, allowed → denied is refused', async () => {
    const ok = await value(`
      const r = await fetch(O + '/public/redirect?to=' + encodeURIComponent('/public/hello'));
      ({ url: r.url, redirected: r.redirected, text: await r.text() })
    `);
    expect(ok).toEqual({ url: `${server.origin}/public/hello`, redirected: true, text: 'hello' });
    expect(asked.map((a) => (a.url_parsed as { path: string }).path)).toEqual([
      '/public/redirect',
      '/public/hello',
    ]);

    server.received.length = 0;
    const denied = await value(
      failure(`fetch(O + '/public/redirect?to=' + encodeURIComponent('/private/x'))`),
    );
    expect(denied).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
    expect(server.received.map((r) => r.path)).toEqual(['/public/redirect']);
  });

  it('turns a POST into a GET without body on 303, and can refuse or hand back redirects', async () => {
    const result = await value(`
      const see = await (await fetch(O + '/public/redirect?status=303&to=/public/echo', {
        method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })).json();
      const manual = await fetch(O + '/public/redirect?to=/public/hello', { redirect: 'manual' });
      const err = ${failure(`fetch(O + '/public/redirect?to=/public/hello', { redirect: 'error' })`)};
      ({ method: see.method, body: see.body, ct: see.headers['content-type'] ?? null,
         manual: [manual.status, manual.headers.get('location')], err })
    `);
    expect(result).toMatchObject({
      method: 'GET',
      body: '',
      ct: null,
      manual: [302, '/public/hello'],
      err: { name: 'TypeError', code: 'MCPV8_ERR_FETCH_FAILED', typeError: true },
    });
  });

  it('injects rule headers that reach the server but never the code, the policy or the echo', async () => {
    const result = await value(
      `
      const echo = await (await fetch(O + '/public/echo')).text();
      const r = await fetch(O + '/public/reflect');
      ({ echo, reflectHeader: r.headers.get('x-reflected'), reflect: await r.text(),
         all: JSON.stringify([...r.headers]) })
    `,
      { fetch: rules() },
    );
    const received = server.received.map((r) => r.headers);
    expect(received.every((h) => h['x-secret'] === SECRET && h.authorization === SECRET)).toBe(true);
    expect(JSON.stringify(result)).not.toContain('s3cr3t');
    expect((result as { echo: string }).echo).toContain('[redacted]');
    expect(JSON.stringify(asked)).not.toContain('s3cr3t');
    expect(asked.every((a) => Object.keys(a.headers as object).length === 0)).toBe(true);
  });

  it('lets a header the code set win over a rule (case-insensitively)', async () => {
    const result = await value(
      `(await (await fetch(O + '/public/echo', { headers: { AUTHORIZATION: 'Bearer mine' } })).json()).headers`,
      { fetch: rules() },
    );
    expect(result).toMatchObject({ authorization: 'Bearer mine', 'x-secret': '[redacted]' });
    expect(server.received[0]!.headers.authorization).toBe('Bearer mine');
    expect(server.received[0]!.headers['x-secret']).toBe(SECRET);
    expect(asked[0]!.headers).toEqual({ authorization: 'Bearer mine' });
  });

  it('matches *.domain on the domain and subdomains only, IPs exactly, and honours method lists', async () => {
    // `*.host` vs localhost is the `*.example.com` vs evilexample.com case, through the fetch path.
    const local = `http://localhost:${server.port}/public/echo`;
    await value(
      `await (await fetch(O + '/public/echo')).text();
       await (await fetch(O + '/public/echo', { method: 'POST', body: '' })).text();
       await (await fetch(${JSON.stringify(local)})).text();`,
      {
        fetch: {
          headerRules: [
            { host: '*.0.0.1', headers: { 'X-Wild-Ip': 'wildcard-ip-value' } },
            { host: '*.host', headers: { 'X-Alike': 'lookalike-value' } },
            { host: '*.localhost', headers: { 'X-Local': 'localhost-value' } },
            { host: '127.0.0.1', methods: ['POST'], headers: { 'X-Post-Only': 'post-only-value' } },
          ],
        },
      },
    );
    const [get, post, viaName] = server.received.map((r) => r.headers);
    expect(get!['x-wild-ip']).toBeUndefined();
    expect(get!['x-post-only']).toBeUndefined();
    expect(post!['x-post-only']).toBe('post-only-value');
    expect(viaName!['x-local']).toBe('localhost-value');
    expect(viaName!['x-alike']).toBeUndefined();
  });

  it('bounds response size, redirects, and requests per execution', async () => {
    const result = await value(
      `({
        big: ${failure(`fetch(O + '/public/big?n=5000')`)},
        ok: (await (await fetch(O + '/public/big?n=1000')).text()).length,
        loop: ${failure(`fetch(O + '/public/loop')`)},
        third: ${failure(`fetch(O + '/public/hello')`)},
      })`,
      { fetch: { limits: { maxResponseBytes: 1000, maxRedirects: 2, maxRequests: 3 } } },
    );
    expect(result).toMatchObject({
      big: {
        name: 'TypeError',
        code: 'MCPV8_ERR_FETCH_LIMIT',
        message: expect.stringContaining('1000 bytes') as unknown,
      },
      ok: 1000,
      loop: {
        code: 'MCPV8_ERR_FETCH_LIMIT',
        message: expect.stringContaining('more than 2 redirects') as unknown,
      },
      third: { code: 'MCPV8_ERR_FETCH_LIMIT', message: expect.stringContaining('3 requests') as unknown },
    });
  });

  it('bounds concurrent requests', async () => {
    const result = await value(
      `const rs = await Promise.allSettled([1, 2, 3].map(() => fetch(O + '/public/slow?ms=200')));
       rs.map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.code)`,
      { fetch: { limits: { maxConcurrent: 2 } } },
    );
    expect(result).toEqual(['ok', 'ok', 'MCPV8_ERR_FETCH_LIMIT']);
  });

  it('aborts a slow request with AbortController, and the host stops it', async () => {
    const t0 = Date.now();
    const result = await value(`
      const c = new AbortController();
      setTimeout(() => c.abort(), 100);
      ${failure(`fetch(O + '/public/slow?ms=5000', { signal: c.signal })`)}
    `);
    expect(result).toMatchObject({ name: 'AbortError', typeError: false });
    expect(Date.now() - t0).toBeLessThan(3000);
    await expect.poll(() => server.abandoned).toBeGreaterThan(0);
  });

  it('rejects at once for an aborted signal, and a timeout signal does not hold the cell', async () => {
    const t0 = Date.now();
    const result = await value(`
      const pre = ${failure(`fetch(O + '/public/hello', { signal: AbortSignal.abort() })`)};
      const r = await fetch(O + '/public/hello', { signal: AbortSignal.timeout(60_000) });
      const t = ${failure(`fetch(O + '/public/slow?ms=3000', { signal: AbortSignal.timeout(50) })`)};
      ({ pre: pre.name, text: await r.text(), t: t.name })
    `);
    expect(result).toEqual({ pre: 'AbortError', text: 'hello', t: 'TimeoutError' });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('reads a body once, clones, and validates requests like the web', async () => {
    const result = await value(`
      const r = await fetch(O + '/public/hello');
      const c = r.clone();
      await r.text();
      ({
        again: (${failure('r.text()')}).name,
        clone: await c.text(),
        immutable: (() => { try { r.headers.set('a', 'b'); return 'set'; } catch (e) { return e.name; } })(),
        get: (${failure(`fetch(O + '/public/echo', { body: 'x' })`)}).typeError,
        relative: (${failure(`fetch('/public/hello')`)}).typeError,
        ftp: (${failure(`fetch('ftp://example.com/x')`)}).typeError,
      })
    `);
    expect(result).toEqual({
      again: 'TypeError',
      clone: 'hello',
      immutable: 'TypeError',
      get: true,
      relative: true,
      ftp: true,
    });
  });

  it('reports network failures as TypeError', async () => {
    const result = await value(failure(`fetch('http://127.0.0.1:1/public/x')`));
    expect(result).toMatchObject({ name: 'TypeError', code: 'MCPV8_ERR_FETCH_FAILED', typeError: true });
  });

  it('replays recorded responses without touching the network', async () => {
    const code = `(await (await fetch(O + '/public/echo', { method: 'POST', body: 'once' })).json()).body`;
    const live = new LiveRecorder();
    expect(await value(code, { recorder: live })).toBe('once');
    await server.close().catch(() => undefined);
    expect(await value(code, { recorder: new ReplayRecorder(live.entries) })).toBe('once');
    server = await startFetchTestServer();
  });
});

describe('web classes in the isolate', () => {
  it('Headers is case-insensitive, combines, sorts and iterates', async () => {
    const result = await value(`
      const h = new Headers({ 'X-B': '1', 'x-a': ' 2 ' });
      h.append('x-b', '3'); h.append('Set-Cookie', 'a'); h.append('set-cookie', 'b');
      const seen = []; h.forEach((v, k) => seen.push(k + '=' + v));
      ({ get: h.get('X-B'), a: h.get('x-a'), has: h.has('X-A'), none: h.get('nope'),
         entries: [...h], keys: [...h.keys()], seen, cookies: h.getSetCookie(),
         bad: (() => { try { new Headers({ 'a b': '1' }); } catch (e) { return e.name; } })() })
    `);
    expect(result).toEqual({
      get: '1, 3',
      a: '2',
      has: true,
      none: null,
      entries: [
        ['set-cookie', 'a'],
        ['set-cookie', 'b'],
        ['x-a', '2'],
        ['x-b', '1, 3'],
      ],
      keys: ['set-cookie', 'set-cookie', 'x-a', 'x-b'],
      seen: ['set-cookie=a', 'set-cookie=b', 'x-a=2', 'x-b=1, 3'],
      cookies: ['a', 'b'],
      bad: 'TypeError',
    });
  });

  it('Response, Request, TextEncoder/Decoder and atob/btoa behave like the web', async () => {
    const result = await value(`
      const r = Response.json({ x: 1 }, { status: 201 });
      const req = new Request('https://api.example.com/a', { method: 'post', headers: { a: '1' }, body: 'x' });
      const bytes = new TextEncoder().encode('é€😀');
      ({ status: r.status, ct: r.headers.get('content-type'), body: await r.json(),
         req: [req.method, req.url, req.headers.get('content-type')],
         bytes: [...bytes], back: new TextDecoder().decode(bytes),
         lenient: new TextDecoder().decode(new Uint8Array([0x61, 0xff, 0x62])),
         b64: btoa('hi\\u00ff'), un: atob('aGn/'),
         aborted: (() => { const c = new AbortController(); c.abort(); return [c.signal.aborted, c.signal.reason.name]; })() })
    `);
    expect(result).toEqual({
      status: 201,
      ct: 'application/json',
      body: { x: 1 },
      req: ['POST', 'https://api.example.com/a', 'text/plain;charset=UTF-8'],
      bytes: [...Buffer.from('é€😀')],
      back: 'é€😀',
      lenient: 'a\uFFFDb',
      b64: Buffer.from('hi\u00ff', 'latin1').toString('base64'),
      un: Buffer.from('aGn/', 'base64').toString('latin1'),
      aborted: [true, 'AbortError'],
    });
  });
});
