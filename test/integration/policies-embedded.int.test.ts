// The policy flags end to end, as a user starts the server: `--opa-url` + `--opa-fetch-policy`
// against the real OPA for fetch(), `--policies-json` with a local .rego file (served by the
// managed OPA, `--opa-binary` from the harness) for fs, and `--fetch-header` — through REST
// calls to the embedded server, stateless and stateful (a fetched value survives a replay).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded, type RunningServer } from '../../src/cli/embedded.ts';
import { startFetchTestServer, type FetchTestServer } from '../harness/fetch-test-server.ts';
import { freePort } from '../harness/free-port.ts';

const opa = inject('services').opa!;
const root = mkdtempSync(join(tmpdir(), 'policies-embedded-'));
const files = join(root, 'files');
const SECRET = 'Bearer embedded-s3cr3t-0a1b2c';
let web: FetchTestServer;

beforeAll(async () => {
  web = await startFetchTestServer();
  mkdirSync(files);
  // The seed's fetch policy, for the test server instead of api.example.com.
  const fetchPolicy = `package embint.fetch
default allow := false
allow if {
  input.method == "GET"
  input.url_parsed.host == "127.0.0.1"
  input.url_parsed.port == ${web.port}
  startswith(input.url_parsed.path, "/public/")
}`;
  const res = await fetch(`${opa.url}/v1/policies/embint-fetch`, { method: 'PUT', body: fetchPolicy });
  expect(res.ok).toBe(true);
  // The seed's fs policy, for this test's directory instead of /tmp.
  writeFileSync(
    join(root, 'fs.rego'),
    `package mcp.fs
default allow := false
allow if {
  input.operation in ["readFile", "writeFile", "readdir", "stat", "exists"]
  startswith(input.path, "${files}/")
}`,
  );
  writeFileSync(
    join(root, 'policies.json'),
    JSON.stringify({ filesystem: { sources: [{ rego: ['./fs.rego'], path: 'mcp/fs' }] } }),
  );
});
afterAll(async () => {
  await web?.close();
  rmSync(root, { recursive: true, force: true });
});

async function start(extra: string[]): Promise<RunningServer> {
  const argv = [
    '--http-port',
    String(await freePort()),
    '--data-dir',
    join(root, `data-${Math.random().toString(36).slice(2)}`),
    '--log-level',
    'silent',
    '--opa-url',
    opa.url,
    '--opa-fetch-policy',
    'embint/fetch',
    '--policies-json',
    join(root, 'policies.json'),
    '--opa-binary',
    opa.binary,
    '--fetch-header',
    `host=127.0.0.1,header=Authorization,value=${SECRET}`,
    ...extra,
  ];
  return startEmbedded(loadConfig(argv, {}) as Config, pino({ level: 'silent' }));
}

async function exec(server: RunningServer, body: Record<string, unknown>) {
  const res = await fetch(`${server.url!}/api/exec?wait=20`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as {
    status: string;
    result?: string;
    heap?: string;
    error?: { name: string; message: string };
  };
}

describe('policies through the embedded server', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await start(['--stateless']);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lets fetch() reach what the policy allows, with the injected header, and refuses the rest', async () => {
    const allowed = await exec(server, {
      code: `const r = await fetch("${web.origin}/public/echo"); const j = await r.json(); [r.status, r.ok, typeof j.headers.authorization]`,
    });
    expect(allowed).toMatchObject({ status: 'completed', result: '[200,true,"string"]' });
    expect(web.received.at(-1)?.headers.authorization).toBe(SECRET);
    expect(JSON.stringify(allowed)).not.toContain('s3cr3t');

    const denied = await exec(server, { code: `await fetch("${web.origin}/private/hello")` });
    expect(denied.status).toBe('failed');
    expect(denied.error).toMatchObject({ name: 'PolicyError' });
    expect(denied.error!.message).toMatch(/denied by policy/);
  });

  it('gives fs exactly what the local .rego policy allows', async () => {
    const ok = await exec(server, {
      code: `await fs.writeFile("${files}/a.txt", "hi"); [await fs.readFile("${files}/a.txt"), await fs.exists("${files}/a.txt")]`,
    });
    expect(ok).toMatchObject({ status: 'completed', result: '["hi",true]' });
    expect(readFileSync(join(files, 'a.txt'), 'utf8')).toBe('hi');
    const rm = await exec(server, { code: `await fs.rm("${files}/a.txt")` });
    expect(rm.error).toMatchObject({ name: 'PolicyError' });
    const outside = await exec(server, { code: `await fs.readFile("${files}/../fs.rego")` });
    expect(outside.error).toMatchObject({ name: 'PolicyError' });
  });
});

describe('policies in a stateful session', () => {
  it('replays a fetched value from the journal after a restart, without fetching again', async () => {
    const heaps = ['--directory-path', join(root, 'heaps'), '--session-db-path', join(root, 'sessions')];
    let server = await start(heaps);
    let heap: string;
    try {
      const first = await exec(server, {
        code: `var body = await (await fetch("${web.origin}/public/json")).json(); body.a`,
      });
      expect(first).toMatchObject({ status: 'completed', result: '1' });
      heap = first.heap!;
    } finally {
      await server.close();
    }
    const before = web.received.length;
    server = await start(heaps);
    try {
      const again = await exec(server, { code: 'body.list', heap });
      expect(again).toMatchObject({ status: 'completed', result: '[1,2]' });
      expect(web.received.length).toBe(before);
    } finally {
      await server.close();
    }
  });
});
