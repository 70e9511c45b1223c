// The egress broker with the runner pod's client, against a local HTTP server: header rules
// applied at the broker (the client never holds them), every hop authorized by the broker's
// policy, refusals of missing, forged, expired and misdirected tokens, in-flight bounds, and
// module downloads hop by hop. Real processes: test/integration/egress-broker.int.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EgressClient } from '../../../src/cluster/egress-client.ts';
import { EGRESS_FETCH_PATH, EGRESS_HEADERS } from '../../../src/cluster/egress-protocol.ts';
import { EgressTokenKey } from '../../../src/cluster/egress-token.ts';
import { Mcpv8Error, isMcpv8Error, type PolicyEngine, type PolicyInput } from '../../../src/core/index.ts';
import { EgressBroker } from '../../../src/gateway/egress/egress-broker.ts';
import { parseFetchPayload } from '../../../src/runner/host/fetch-request.ts';
import type { BodyBudget } from '../../../src/runner/host/fetch-response.ts';
import { ModuleSourceLoader } from '../../../src/runner/modules/module-source-loader.ts';
import { startFetchTestServer, type FetchTestServer } from '../../harness/fetch-test-server.ts';

const SECRET = 'Bearer broker-only-s3cr3t';
const KEY = new EgressTokenKey('egress-key-for-unit-tests-0123456789');
const EXECUTION = 'team-a/exec-1';

let server: FetchTestServer;
let broker: EgressBroker;
let brokerUrl: string;
let asked: Array<{ category: string; input: PolicyInput }>;

/** Allows paths under /public/ (fetch and modules), records every question. */
const policy: PolicyEngine = {
  has: (c) => c === 'fetch' || c === 'modules',
  authorize: async (category, input) => {
    asked.push({ category, input });
    const path = (input.url_parsed as { path: string }).path;
    if (!path.startsWith('/public/'))
      throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [`${category} ${String(input.url)}`, 'path']);
  },
};

const budget = (maxBytes = 1 << 20): BodyBudget => ({ maxBytes, take: () => undefined });
const token = (executionId = EXECUTION, expiresAt = Date.now() + 60_000) =>
  KEY.mint({ namespace: 'team-a', executionId, expiresAt });
const request = (url: string, extra: Record<string, unknown> = {}) =>
  parseFetchPayload(JSON.stringify({ id: 1, url, method: 'GET', headers: [], ...extra }));

/** A client in the middle of run EXECUTION carrying `tok`. */
function client(tok = token()): EgressClient {
  const c = new EgressClient(brokerUrl);
  c.enter(EXECUTION, tok);
  return c;
}

async function failure(promise: Promise<unknown>): Promise<{ code?: string; name: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code?: string };
    return { name: e.name, message: e.message, ...(isMcpv8Error(e) && { code: e.code }) };
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  server = await startFetchTestServer();
  broker = new EgressBroker({
    key: KEY,
    policy,
    headerRules: [{ host: '127.0.0.1', headers: { 'X-Secret': SECRET } }],
    limits: { maxInFlightPerExecution: 1, maxResponseBytes: 1000 },
  });
  brokerUrl = await broker.listen('127.0.0.1', 0);
});
afterAll(async () => {
  await broker?.close();
  await server?.close();
});
beforeEach(() => {
  asked = [];
  server.received.length = 0;
});

describe('fetch through the egress broker', () => {
  it('injects the header rules of the broker and scrubs their values from what comes back', async () => {
    const result = await client().fetch(
      EXECUTION,
      request(`${server.origin}/public/reflect`),
      budget(),
      new AbortController().signal,
    );
    expect(server.received.at(-1)?.headers['x-secret']).toBe(SECRET);
    expect(result.status).toBe(200);
    expect(JSON.stringify(result)).not.toContain(SECRET);
    // The policy saw what the code asked for, not the injected header.
    expect(JSON.stringify(asked)).not.toContain(SECRET);
  });

  it('authorizes every redirect hop with its own policy', async () => {
    const to = encodeURIComponent(`${server.origin}/private/hello`);
    const err = await failure(
      client().fetch(
        EXECUTION,
        request(`${server.origin}/public/redirect?to=${to}`),
        budget(),
        new AbortController().signal,
      ),
    );
    expect(err.code).toBe('MCPV8_ERR_POLICY_DENIED');
    expect(server.received.map((r) => r.path)).toEqual(['/public/redirect']);
  });

  it('bounds the response body by the smaller of its limit and what the pod has left', async () => {
    const err = await failure(
      client().fetch(
        EXECUTION,
        request(`${server.origin}/public/big?n=500`),
        budget(100),
        AbortSignal.timeout(5000),
      ),
    );
    expect(err.code).toBe('MCPV8_ERR_FETCH_LIMIT');
    const over = await failure(
      client().fetch(
        EXECUTION,
        request(`${server.origin}/public/big?n=2000`),
        budget(),
        AbortSignal.timeout(5000),
      ),
    );
    expect(over.code).toBe('MCPV8_ERR_FETCH_LIMIT');
  });

  it('hands back an invalid request as the TypeError web fetch() throws', async () => {
    const res = await fetch(`${brokerUrl}${EGRESS_FETCH_PATH}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token()}`, [EGRESS_HEADERS.execution]: EXECUTION },
      body: JSON.stringify({ id: 1, url: 'ftp://x/', method: 'GET', headers: [] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { name: 'TypeError' } });
  });

  it('refuses a request beyond the in-flight bound of its execution', async () => {
    const slow = new AbortController();
    const c = client();
    const first = c.fetch(EXECUTION, request(`${server.origin}/public/slow?ms=30000`), budget(), slow.signal);
    await until(() => server.received.some((r) => r.path === '/public/slow'));
    const err = await failure(
      c.fetch(EXECUTION, request(`${server.origin}/public/hello`), budget(), new AbortController().signal),
    );
    expect(err.code).toBe('MCPV8_ERR_FETCH_LIMIT');
    slow.abort();
    await first.catch(() => undefined);
  });
});

describe('refusals of the egress broker', () => {
  const call = (headers: Record<string, string>) =>
    fetch(`${brokerUrl}${EGRESS_FETCH_PATH}`, {
      method: 'POST',
      headers: { [EGRESS_HEADERS.execution]: EXECUTION, ...headers },
      body: JSON.stringify({ id: 1, url: `${server.origin}/public/hello`, method: 'GET', headers: [] }),
    });

  it.each([
    ['no token', {}],
    [
      'a token of another key',
      {
        authorization: `Bearer ${new EgressTokenKey('x'.repeat(40)).mint({ namespace: 'team-a', executionId: EXECUTION, expiresAt: Date.now() + 60_000 })}`,
      },
    ],
    ['an expired token', { authorization: `Bearer ${token(EXECUTION, Date.now() - 1)}` }],
  ])('answers 401 to %s, and sends nothing', async (_what, headers) => {
    const res = await call(headers);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'MCPV8_ERR_AUTH_REQUIRED' } });
    expect(server.received).toEqual([]);
  });

  it('answers 403 to a token of another execution (another tenant’s run)', async () => {
    const res = await call({ authorization: `Bearer ${token('team-b/exec-9')}` });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'MCPV8_ERR_AUTH_FORBIDDEN' } });
    expect(server.received).toEqual([]);
  });

  it('fails a fetch of a run that carries no token without calling the broker', async () => {
    const err = await failure(
      new EgressClient(brokerUrl).fetch(
        EXECUTION,
        request(`${server.origin}/public/hello`),
        budget(),
        new AbortController().signal,
      ),
    );
    expect(err.code).toBe('MCPV8_ERR_FETCH_FAILED');
  });
});

describe('module downloads through the egress broker', () => {
  const loader = (c: EgressClient) =>
    new ModuleSourceLoader({ cdnBase: 'https://cdn.invalid', fetch: c.moduleFetch });

  it('follows redirects hop by hop, each one authorized by the broker', async () => {
    const to = encodeURIComponent(`${server.origin}/public/hello`);
    const source = await loader(client()).load(
      `${server.origin}/public/redirect?to=${to}`,
      undefined,
      new AbortController().signal,
    );
    expect(source.source).toBe('hello');
    expect(source.hops).toHaveLength(2);
    expect(asked.filter((a) => a.category === 'modules')).toHaveLength(2);
    // Each hop is asked for the tenant the run's token names.
    expect(asked.map((a) => a.input.tenant)).toEqual(['team-a', 'team-a']);
    // Header rules are for fetch(): a module download carries none.
    expect(server.received.every((r) => r.headers['x-secret'] === undefined)).toBe(true);
  });

  it('keeps the broker’s policy refusal of a hop', async () => {
    const to = encodeURIComponent(`${server.origin}/private/hello`);
    const err = await failure(
      loader(client()).load(
        `${server.origin}/public/redirect?to=${to}`,
        undefined,
        new AbortController().signal,
      ),
    );
    expect(err.code).toBe('MCPV8_ERR_POLICY_DENIED');
    expect(server.received.map((r) => r.path)).toEqual(['/public/redirect']);
  });

  it('downloads nothing without a modules policy: the broker reaches more than a runner pod', async () => {
    const fetchOnly = new EgressBroker({
      key: KEY,
      policy: { has: (c) => c === 'fetch', authorize: async () => {} },
      headerRules: [],
    });
    const url = await fetchOnly.listen('127.0.0.1', 0);
    try {
      const c = new EgressClient(url);
      c.enter(EXECUTION, token());
      const before = server.received.length;
      const err = await failure(
        loader(c).load(`${server.origin}/public/hello`, undefined, new AbortController().signal),
      );
      expect(err.code).toBe('MCPV8_ERR_POLICY_UNCONFIGURED');
      expect(server.received.length).toBe(before);
    } finally {
      await fetchOnly.close();
    }
  });
});

async function until(probe: () => boolean): Promise<void> {
  while (!probe()) await new Promise((r) => setImmediate(r));
}
