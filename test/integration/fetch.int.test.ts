// fetch() of cells against a real OPA: runner processes (ChildRunnerPool, and one runner process
// forked directly to read its stderr) whose fetch policy allows a local HTTP server of this test
// under /public/. The seed README's examples, redirects hop by hop, header injection (secrets
// reach the server, never the code, the policy input, the journal or the logs), limits, OPA down,
// and AbortController.
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { ExecutionOutcome, RunRequest } from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';
import type { RunnerOptions } from '../../src/runner/runner-process.ts';
import { startFetchTestServer, type FetchTestServer } from '../harness/fetch-test-server.ts';
import { freePort } from '../harness/free-port.ts';

const opa = inject('services').opa!;
const SECRET = 'Bearer int-s3cr3t-9f8e7d6c';
const POLICY_PATH = 'fetchint/fetch';

/**
 * The seed's example policy for the test server, plus a tripwire: a request whose input carries
 * an injected header (by name, or the secret anywhere in a value) is denied, so injected headers
 * reaching the policy would make the tests that use them fail.
 */
const policy = (port: number) => `package fetchint.fetch

default allow := false

allow if {
  input.operation == "fetch"
  input.url_parsed.scheme == "http"
  input.url_parsed.host in {"127.0.0.1", "localhost"}
  input.url_parsed.port == ${port}
  startswith(input.url_parsed.path, "/public/")
  input.method in {"GET", "POST", "HEAD"}
  not injected_header_seen
}

injected_header_seen if input.headers["x-secret"]

injected_header_seen if {
  some value in input.headers
  contains(value, "s3cr3t")
}
`;

let server: FetchTestServer;
let pool: ChildRunnerPool;
let heapsDir: string;
let seq = 0;

const runnerOptions = (opaUrl = opa.url): Partial<RunnerOptions> => ({
  policies: { fetch: { mode: 'all', timeoutMs: 2000, sources: [{ url: opaUrl, path: POLICY_PATH }] } },
  fetch: {
    headerRules: [
      { host: '127.0.0.1', headers: { 'X-Secret': SECRET, Authorization: SECRET } },
      { host: '*.host', headers: { 'X-Alike': 'lookalike-must-not-be-sent' } },
      { host: '*.localhost', methods: ['GET'], headers: { 'X-Local': 'localhost-rule-value' } },
    ],
    limits: { maxResponseBytes: 100_000, maxRedirects: 3 },
  },
});

beforeAll(async () => {
  server = await startFetchTestServer();
  const put = await fetch(`${opa.url}/v1/policies/fetchint-fetch`, {
    method: 'PUT',
    body: policy(server.port),
  });
  expect(put.status, await put.text()).toBe(200);
  heapsDir = mkdtempSync(join(tmpdir(), 'fetch-int-heaps-'));
  pool = new ChildRunnerPool({ runners: 1, heaps: new DirHeapStore(heapsDir), runner: runnerOptions() });
  await pool.whenReady();
});
afterAll(async () => {
  await pool?.close();
  await server?.close();
  if (heapsDir) rmSync(heapsDir, { recursive: true, force: true });
});
beforeEach(() => {
  server.received.length = 0;
});

async function run(
  code: string,
  opts: Partial<RunRequest> & { on?: ChildRunnerPool; signal?: AbortSignal } = {},
): Promise<ExecutionOutcome> {
  const { on, signal, ...req } = opts;
  return (on ?? pool).run(
    {
      executionId: `f${++seq}`,
      code: `const O = ${JSON.stringify(server.origin)};\n${code}`,
      language: 'javascript',
      heapMb: 16,
      timeoutMs: 10_000,
      ...req,
    },
    () => {},
    signal ?? new AbortController().signal,
  );
}

async function value(code: string, opts?: Parameters<typeof run>[1]): Promise<unknown> {
  const outcome = await run(code, opts);
  expect(outcome.status, JSON.stringify(outcome.error)).toBe('completed');
  return outcome.result === undefined ? undefined : JSON.parse(outcome.result);
}

const failure = (expr: string) =>
  `await ${expr}.then(() => 'no error', (e) => ({ name: e.name, code: e.code, message: e.message }))`;

describe('fetch through runner processes and OPA', () => {
  it('runs the seed README’s GET example', async () => {
    const result = await value(`
      const resp = await fetch(O + '/public/hello');
      const j = await fetch(O + '/public/json');
      ({ status: resp.status, ok: resp.ok, text: await resp.text(), json: await j.json(),
         ct: resp.headers.get('content-type') })
    `);
    expect(result).toEqual({
      status: 200,
      ok: true,
      text: 'hello',
      json: { a: 1, list: [1, 2] },
      ct: 'text/plain; charset=utf-8',
    });
  });

  it('runs the seed README’s POST example', async () => {
    const result = await value(`
      const resp = await fetch(O + '/public/echo', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ key: 'value' }),
      });
      const echo = await resp.json();
      ({ method: echo.method, body: JSON.parse(echo.body), ct: echo.headers['content-type'] })
    `);
    expect(result).toEqual({ method: 'POST', body: { key: 'value' }, ct: 'application/json' });
  });

  it('rejects a denied request with a clear message and sends nothing', async () => {
    const result = await value(failure(`fetch(O + '/private/data')`));
    expect(result).toEqual({
      name: 'PolicyError',
      code: 'MCPV8_ERR_POLICY_DENIED',
      message: expect.stringMatching(/denied by policy/) as unknown,
    });
    expect(server.received).toHaveLength(0);
  });

  it('refuses a redirect from an allowed URL to a denied one', async () => {
    const result = await value(
      failure(`fetch(O + '/public/redirect?to=' + encodeURIComponent('/private/data'))`),
    );
    expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
    expect(server.received.map((r) => r.path)).toEqual(['/public/redirect']);
  });

  it('injects headers that reach the server but not the code, nor the policy', async () => {
    // The policy denies any request whose input carries them, so success proves they were not there.
    const result = await value(`
      const echo = await (await fetch(O + '/public/echo')).json();
      const r = await fetch(O + '/public/reflect');
      ({ echoed: echo.headers['x-secret'], auth: echo.headers.authorization,
         reflected: r.headers.get('x-reflected'), body: await r.text(),
         headers: [...r.headers] })
    `);
    expect(server.received.map((r) => r.headers['x-secret'])).toEqual([SECRET, SECRET]);
    expect(JSON.stringify(result)).not.toContain('s3cr3t');
    expect(result).toMatchObject({ echoed: '[redacted]', auth: '[redacted]' });
  });

  it('has a live tripwire: the policy does deny a request whose input carries x-secret', async () => {
    const result = await value(
      failure(`fetch(O + '/public/echo', { headers: { 'X-Secret': 'set by the code' } })`),
    );
    expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_DENIED' });
  });

  it('lets a header the code set win over a rule', async () => {
    const result = await value(
      `(await (await fetch(O + '/public/echo', { headers: { Authorization: 'Bearer mine' } })).json()).headers.authorization`,
    );
    expect(result).toBe('Bearer mine');
    expect(server.received[0]!.headers.authorization).toBe('Bearer mine');
  });

  it('does not apply *.host to localhost (the *.example.com vs evilexample.com case), but *.localhost', async () => {
    await value(`await (await fetch('http://localhost:${server.port}/public/echo')).text()`);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.headers['x-alike']).toBeUndefined();
    expect(server.received[0]!.headers['x-local']).toBe('localhost-rule-value');
  });

  it('refuses responses over the size limit and redirect loops', async () => {
    const result = await value(`({
      big: ${failure(`fetch(O + '/public/big?n=200000')`)},
      loop: ${failure(`fetch(O + '/public/loop')`)},
    })`);
    expect(result).toEqual({
      big: {
        name: 'TypeError',
        code: 'MCPV8_ERR_FETCH_LIMIT',
        message: expect.stringContaining('100000 bytes') as unknown,
      },
      loop: {
        name: 'TypeError',
        code: 'MCPV8_ERR_FETCH_LIMIT',
        message: expect.stringContaining('3 redirects') as unknown,
      },
    });
  });

  it('aborts a slow request with AbortController', async () => {
    const t0 = Date.now();
    const result = await value(`
      const c = new AbortController();
      setTimeout(() => c.abort(), 200);
      ${failure(`fetch(O + '/public/slow?ms=8000', { signal: c.signal })`)}
    `);
    expect(result).toMatchObject({ name: 'AbortError' });
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect.poll(() => server.abandoned).toBeGreaterThan(0);
  });

  it('keeps injected values out of the journal of a persisted cell', async () => {
    const outcome = await run(
      `const e = await (await fetch(O + '/public/echo', { method: 'POST', body: 'journaled' })).json(); e.body`,
      { persist: true },
    );
    expect(outcome.status, JSON.stringify(outcome.error)).toBe('completed');
    expect(outcome.heap).toMatch(/^[0-9a-f]{64}$/);
    const stored = filesUnder(heapsDir).map((f) => readFileSync(f, 'utf8'));
    expect(stored.join('\n')).toContain('/public/echo');
    expect(stored.join('\n')).not.toContain('s3cr3t');
    expect(server.received[0]!.headers['x-secret']).toBe(SECRET);
  });

  it('refuses clearly within the deadline when OPA is down, and the pool keeps serving', async () => {
    const down = new ChildRunnerPool({
      runners: 1,
      runner: runnerOptions(`http://127.0.0.1:${await freePort()}`),
    });
    try {
      await down.whenReady();
      const t0 = Date.now();
      const result = await value(failure(`fetch(O + '/public/hello')`), { on: down, timeoutMs: 5000 });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(result).toMatchObject({ name: 'PolicyError', code: 'MCPV8_ERR_POLICY_UNAVAILABLE' });
      expect(server.received).toHaveLength(0);
      expect(await value('1 + 1', { on: down })).toBe(2);
    } finally {
      await down.close();
    }
  });
});

describe('a runner process’s logs', () => {
  it('never contain injected values, whatever the requests did', async () => {
    const { outcome, stderr, output } = await runInRunnerProcess(
      runnerOptions(),
      `const O = ${JSON.stringify(server.origin)};
       const tries = [
         fetch(O + '/public/reflect').then((r) => r.text()),
         fetch(O + '/private/x'),
         fetch(O + '/public/reset'),
         fetch(O + '/public/loop'),
         fetch(O + '/public/big?n=200000'),
         fetch(O + '/public/redirect?to=' + encodeURIComponent('http://127.0.0.1:1/public/y')),
       ];
       for (const r of await Promise.allSettled(tries)) console.log(r.status, r.value ?? r.reason);
       'done'`,
    );
    expect(outcome.status, JSON.stringify(outcome.error)).toBe('completed');
    expect(output).toContain('MCPV8_ERR_POLICY_DENIED');
    expect(output).toContain('MCPV8_ERR_FETCH_FAILED');
    expect(output).toContain('x-secret');
    expect(server.received.some((r) => r.headers['x-secret'] === SECRET)).toBe(true);
    expect(`${stderr}\n${output}`).not.toContain('s3cr3t');
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Forks one runner process (as ChildRunnerPool does), runs `code`, returns what it printed. */
async function runInRunnerProcess(
  options: Partial<RunnerOptions>,
  code: string,
): Promise<{ outcome: ExecutionOutcome; stderr: string; output: string }> {
  const entry = fileURLToPath(new URL('../../src/runner/child-entry.ts', import.meta.url));
  const child = fork(entry, [], {
    execArgv: ['--no-node-snapshot'],
    env: {},
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const outcome = await new Promise<ExecutionOutcome>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`runner exited (${code}): ${stderr}`)));
      child.on('message', (raw) => {
        const msg = raw as { type: string; text?: string; outcome?: ExecutionOutcome };
        if (msg.type === 'ready') {
          child.send({
            type: 'run',
            executionId: 'logs',
            code,
            language: 'javascript',
            heapMb: 16,
            timeoutMs: 15_000,
          });
        } else if (msg.type === 'output') output += `${msg.text}\n`;
        else if (msg.type === 'outcome') resolve(msg.outcome!);
      });
      child.send({ type: 'configure', options });
    });
    return { outcome, stderr, output };
  } finally {
    child.removeAllListeners('exit');
    child.kill();
  }
}
