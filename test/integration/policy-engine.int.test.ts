// The policy engine against the real OPA: the seed's fetch and fs policies decided through
// OpaPolicyEngine, modes all/any, every way a decision can fail (undefined, evaluation error,
// unreachable, slow, malformed), the managed OPA serving local .rego files, and module downloads
// gated by a modules policy end to end through real runner processes.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startPolicies } from '../../src/cli/policy-runtime.ts';
import {
  isMcpv8Error,
  type ErrorCode,
  type ExecutionOutcome,
  type OpaSource,
  type PolicyCategory,
  type PolicyInput,
  type ResolvedPolicies,
} from '../../src/core/index.ts';
import { ChildRunnerPool } from '../../src/local/child-runner-pool.ts';
import { ManagedOpa } from '../../src/local/managed-opa.ts';
import { OpaPolicyEngine } from '../../src/runner/policy/opa-policy-engine.ts';
import { freePort } from '../harness/free-port.ts';

const opa = inject('services').opa!;
const dir = mkdtempSync(join(tmpdir(), 'policy-engine-test-'));

// Packages under `pe.` so they cannot merge with policies other test files load into the same OPA.
const FETCH_REGO = `package pe.fetch

default allow := false

# Allow GET requests to a specific API host
allow if {
  input.method == "GET"
  input.url_parsed.host == "api.example.com"
  startswith(input.url_parsed.path, "/public/")
}
`;
const FS_REGO = `package pe.fs

default allow := false

allow if {
  input.operation == "readFile"
  startswith(input.path, "/tmp/")
}

allow if {
  input.operation == "writeFile"
  startswith(input.path, "/tmp/")
}

allow if {
  input.operation in ["readdir", "stat", "exists"]
  startswith(input.path, "/tmp/")
}
`;
const POLICIES: Record<string, string> = {
  'pe-fetch': FETCH_REGO,
  'pe-fs': FS_REGO,
  'pe-yes': 'package pe.yes\n\nallow := true\n',
  'pe-no': 'package pe.no\n\ndefault allow := false\n\nreason := "closed for maintenance"\n',
  'pe-never': 'package pe.never\n\ndefault allow := false\n\nmessage := ["not on weekends", "not today"]\n',
  'pe-conflict': 'package pe.conflict\n\nallow := true if input.x == 1\n\nallow := false if input.x == 1\n',
  'pe-modules': `package pe.modules

default allow := false

allow if {
  input.operation == "import"
  input.method == "GET"
  startswith(input.url_parsed.path, "/allowed/")
}

reason := "only /allowed/ modules" if not allow
`,
};

const src = (path: string, url = opa.url): OpaSource => ({ url, path });
const engine = (
  sources: OpaSource[],
  mode: 'all' | 'any' = 'all',
  timeoutMs = 2000,
  category: PolicyCategory = 'fetch',
) => new OpaPolicyEngine({ [category]: { mode, timeoutMs, sources } });

function fetchInput(method: string, url: string, headers: Record<string, string> = {}): PolicyInput {
  const u = new URL(url);
  return {
    operation: 'fetch',
    url,
    method,
    headers,
    url_parsed: {
      scheme: u.protocol.slice(0, -1),
      host: u.hostname,
      port: u.port === '' ? 443 : Number(u.port),
      path: u.pathname,
      query: u.search.slice(1),
    },
  };
}
const fsInput = (operation: string, path: string, extra: Record<string, unknown> = {}): PolicyInput => ({
  operation,
  path,
  ...extra,
});
const ALLOWED = fetchInput('GET', 'https://api.example.com/public/data');

/** The Mcpv8Error `promise` rejects with; fails when it resolves or rejects otherwise. */
async function refusal(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  const err = await promise.then(
    () => new Error('allowed'),
    (e: unknown) => e as Error,
  );
  expect(isMcpv8Error(err, code), `${err.message}`).toBe(true);
  return err;
}

// A stand-in for a broken OPA: answers by path, or never.
let fake: Server;
let fakeUrl = '';
beforeAll(async () => {
  for (const [id, body] of Object.entries(POLICIES)) {
    const res = await fetch(`${opa.url}/v1/policies/${id}`, { method: 'PUT', body });
    expect(res.status, `${id}: ${await res.text()}`).toBe(200);
  }
  fake = createServer((req, res) => {
    if (req.url === '/silent/v1/data/p') return; // never answers
    if (req.url === '/huge/v1/data/p')
      return res.end(JSON.stringify({ result: 'x'.repeat(2 * 1024 * 1024) }));
    if (req.url === '/text/v1/data/p') return res.end('<html>proxy error</html>');
    if (req.url === '/redirect/v1/data/p')
      return res.writeHead(307, { location: `${opa.url}/v1/data/pe/yes` }).end();
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
});
afterAll(async () => {
  fake?.closeAllConnections();
  await new Promise((r) => fake?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('OpaPolicyEngine with the seed policies', () => {
  it('allows GET api.example.com under /public/ and denies everything else, naming the policy', async () => {
    const fetchEngine = engine([src('pe/fetch')]);
    await fetchEngine.authorize('fetch', ALLOWED);
    for (const [method, url] of [
      ['POST', 'https://api.example.com/public/data'],
      ['GET', 'https://api.example.com/private/x'],
      ['GET', 'https://evil.example.org/public/x'],
    ] as const) {
      const err = await refusal(
        fetchEngine.authorize('fetch', fetchInput(method, url)),
        'MCPV8_ERR_POLICY_DENIED',
      );
      expect(err.message).toBe(`fetch ${method} ${url} denied by policy: pe/fetch`);
    }
  });

  it('never puts header values or the query in its errors', async () => {
    const input = fetchInput('POST', 'https://api.example.com/x?api_key=s3cr3t-query', {
      authorization: 'Bearer s3cr3t-header',
    });
    const err = await refusal(engine([src('pe/fetch')]).authorize('fetch', input), 'MCPV8_ERR_POLICY_DENIED');
    expect(err.message).toBe('fetch POST https://api.example.com/x?… denied by policy: pe/fetch');
    expect(JSON.stringify({ ...err, message: err.message })).not.toMatch(/s3cr3t/);
  });

  it('decides file system operations with the fs policy', async () => {
    const fs = engine([src('pe/fs')], 'all', 2000, 'filesystem');
    expect(fs.has('filesystem')).toBe(true);
    expect(fs.has('fetch')).toBe(false);
    await fs.authorize('filesystem', fsInput('readFile', '/tmp/data.txt', { encoding: 'utf8' }));
    await fs.authorize('filesystem', fsInput('writeFile', '/tmp/out.txt'));
    await fs.authorize('filesystem', fsInput('exists', '/tmp/x'));
    const write = await refusal(
      fs.authorize('filesystem', fsInput('writeFile', '/etc/passwd')),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(write.message).toBe('fs writeFile /etc/passwd denied by policy: pe/fs');
    const rename = await refusal(
      fs.authorize('filesystem', fsInput('rename', '/tmp/a', { destination: '/tmp/b' })),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(rename.message).toBe('fs rename /tmp/a → /tmp/b denied by policy: pe/fs');
  });

  it('refuses a category that is not configured', async () => {
    const err = await refusal(
      engine([src('pe/fetch')]).authorize('filesystem', fsInput('readFile', '/tmp/x')),
      'MCPV8_ERR_POLICY_UNCONFIGURED',
    );
    expect(err.message).toBe('fs readFile /tmp/x is not available: no filesystem policy is configured');
  });

  it('accepts a bare true decision and takes a denial’s reason or message from the policy', async () => {
    await engine([src('pe/yes/allow')]).authorize('fetch', ALLOWED);
    const bare = await refusal(
      engine([src('pe/no/allow')]).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(bare.message).toMatch(/denied by policy: pe\/no\/allow$/);
    const reason = await refusal(
      engine([src('pe/no')]).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(reason.message).toMatch(/denied by policy: pe\/no \(closed for maintenance\)$/);
    const list = await refusal(
      engine([src('pe/never')]).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(list.message).toMatch(/denied by policy: pe\/never \(not on weekends; not today\)$/);
  });
});

describe('modes', () => {
  it('all: every source must allow; the first denial decides', async () => {
    await engine([src('pe/yes'), src('pe/fetch')], 'all').authorize('fetch', ALLOWED);
    const err = await refusal(
      engine([src('pe/yes'), src('pe/no')], 'all').authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(err.message).toMatch(/pe\/no \(closed for maintenance\)$/);
    // A denial is certain even while another source is silent: no need to wait for it.
    const t0 = Date.now();
    await refusal(
      engine([src('p', `${fakeUrl}/silent`), src('pe/no')], 'all', 3000).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('any: one allow is enough; all denials are listed otherwise', async () => {
    await engine([src('pe/no'), src('pe/yes')], 'any').authorize('fetch', ALLOWED);
    await engine([src('p', `${fakeUrl}/silent`), src('pe/yes')], 'any', 3000).authorize('fetch', ALLOWED);
    const err = await refusal(
      engine([src('pe/no'), src('pe/fetch')], 'any').authorize(
        'fetch',
        fetchInput('DELETE', 'https://x.test/'),
      ),
      'MCPV8_ERR_POLICY_DENIED',
    );
    expect(err.message).toMatch(/denied by policy: pe\/no \(closed for maintenance\); pe\/fetch$/);
  });

  it('any: a source that could not answer makes a denial unsure, so it is unavailable', async () => {
    const closed = await freePort();
    const err = await refusal(
      engine([src('pe/no'), src('pe/yes', `http://127.0.0.1:${closed}`)], 'any').authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_UNAVAILABLE',
    );
    expect(err.message).toMatch(/OPA is unreachable for the policy pe\/yes \(ECONNREFUSED\)/);
  });

  it('all: an allow and an unreachable source is unavailable, not allowed', async () => {
    const closed = await freePort();
    await refusal(
      engine([src('pe/yes'), src('pe/yes', `http://127.0.0.1:${closed}`)], 'all').authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_UNAVAILABLE',
    );
  });
});

describe('decisions that cannot be made', () => {
  it('an undefined decision', async () => {
    const err = await refusal(
      engine([src('pe/nothing/here')]).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_UNAVAILABLE',
    );
    expect(err.message).toBe(
      'fetch GET https://api.example.com/public/data refused: the policy could not be evaluated (the policy pe/nothing/here has no decision)',
    );
    expect(err).toMatchObject({ statusCode: 503, retryable: true });
  });

  it('an evaluation error, with OPA’s message', async () => {
    const err = await refusal(
      engine([src('pe/conflict')]).authorize('fetch', { ...ALLOWED, x: 1 }),
      'MCPV8_ERR_POLICY_UNAVAILABLE',
    );
    expect(err.message).toMatch(
      /OPA answered HTTP 500 for the policy pe\/conflict: eval_conflict_error: rule data\.pe\.conflict\.allow produced conflicting values/,
    );
  });

  it('OPA unreachable (a closed port)', async () => {
    const closed = await freePort();
    const t0 = Date.now();
    const err = await refusal(
      engine([src('pe/fetch', `http://127.0.0.1:${closed}`)]).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_UNAVAILABLE',
    );
    expect(err.message).toMatch(/OPA is unreachable for the policy pe\/fetch \(ECONNREFUSED\)/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('OPA too slow: refused when the decision timeout passes', async () => {
    const t0 = Date.now();
    const err = await refusal(
      engine([src('p', `${fakeUrl}/silent`)], 'all', 300).authorize('fetch', ALLOWED),
      'MCPV8_ERR_POLICY_UNAVAILABLE',
    );
    const ms = Date.now() - t0;
    expect(err.message).toMatch(/OPA did not answer the policy p within 300 ms/);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(1500);
  });

  it('an answer that is too large, not JSON, an error status, or a redirect', async () => {
    const cases: Array<[string, RegExp]> = [
      ['huge', /OPA's answer for the policy p exceeds 1048576 bytes/],
      ['text', /OPA's answer for the policy p is not JSON/],
      ['missing', /OPA answered HTTP 404 for the policy p\)/],
      ['redirect', /OPA answered HTTP 307 for the policy p\)/],
    ];
    for (const [prefix, message] of cases) {
      const err = await refusal(
        engine([src('p', `${fakeUrl}/${prefix}`)]).authorize('fetch', ALLOWED),
        'MCPV8_ERR_POLICY_UNAVAILABLE',
      );
      expect(err.message, prefix).toMatch(message);
    }
  });

  it('the caller aborting rejects with its reason, not as a policy failure', async () => {
    const controller = new AbortController();
    const pending = engine([src('p', `${fakeUrl}/silent`)], 'all', 5000).authorize(
      'fetch',
      ALLOWED,
      controller.signal,
    );
    setTimeout(() => controller.abort(new Error('execution cancelled')), 50);
    await expect(pending).rejects.toThrow('execution cancelled');
  });
});

describe('ManagedOpa (local .rego files)', () => {
  const write = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };

  it('serves decisions from local files, and stopping it leaves no process', async () => {
    const managed = await ManagedOpa.start({
      binary: opa.binary,
      files: [write('fetch.rego', FETCH_REGO), write('fs.rego', FS_REGO)],
    });
    const pid = managed.pid!;
    try {
      const local = new OpaPolicyEngine({
        fetch: { mode: 'all', timeoutMs: 2000, sources: [src('pe/fetch', managed.url)] },
        filesystem: { mode: 'all', timeoutMs: 2000, sources: [src('pe/fs', managed.url)] },
      });
      await local.authorize('fetch', ALLOWED);
      await local.authorize('filesystem', fsInput('readFile', '/tmp/a'));
      await refusal(local.authorize('filesystem', fsInput('rm', '/tmp/a')), 'MCPV8_ERR_POLICY_DENIED');
    } finally {
      await managed.stop();
    }
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it('refuses a rego file OPA does not accept, naming the file and OPA’s message', async () => {
    const bad = write('bad.rego', 'package pe.bad\n\nallow if { input.x == }\n');
    const err = await refusal(
      ManagedOpa.start({ binary: opa.binary, files: [write('ok.rego', FS_REGO), bad] }),
      'MCPV8_ERR_CONFIG_INVALID',
    );
    expect(err.message).toContain(`${bad}:3: rego_parse_error`);
  });

  it('says so when the opa binary is missing', async () => {
    const err = await refusal(
      ManagedOpa.start({ binary: join(dir, 'no-such-opa'), files: [write('ok2.rego', FS_REGO)] }),
      'MCPV8_ERR_CONFIG_INVALID',
    );
    expect(err.message).toMatch(/the opa binary ".*no-such-opa" was not found; .*--opa-binary/);
  });

  it('restarts OPA that died; meanwhile decisions are unavailable', async () => {
    const managed = await ManagedOpa.start({
      binary: opa.binary,
      files: [write('fetch2.rego', FETCH_REGO)],
      restartDelayMs: { min: 300, max: 1000 },
    });
    try {
      const local = engine([src('pe/fetch', managed.url)], 'all', 1000);
      await local.authorize('fetch', ALLOWED);
      const first = managed.pid!;
      process.kill(first, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      await refusal(local.authorize('fetch', ALLOWED), 'MCPV8_ERR_POLICY_UNAVAILABLE');
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await local.authorize('fetch', ALLOWED);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(managed.pid).not.toBe(first);
    } finally {
      await managed.stop();
    }
  });

  it('is started from --policies-json and --opa-binary, with remote and local sources resolved', async () => {
    write('modules.rego', POLICIES['pe-modules']!.replaceAll('pe.modules', 'local.modules'));
    const file = write(
      'policies.json',
      JSON.stringify({
        fetch: { sources: [{ url: opa.url, path: 'pe/fetch' }] },
        modules: {
          mode: 'any',
          timeout_ms: 1500,
          sources: [{ rego: ['./modules.rego'], path: 'local/modules' }],
        },
      }),
    );
    const config = loadConfig(['--policies-json', file, '--opa-binary', opa.binary], {}) as Config;
    const runtime = await startPolicies(config.policies);
    try {
      expect(runtime.resolved).toEqual({
        fetch: { mode: 'all', timeoutMs: 2000, sources: [{ url: opa.url, path: 'pe/fetch' }] },
        modules: {
          mode: 'any',
          timeoutMs: 1500,
          sources: [{ url: runtime.opa!.url, path: 'local/modules' }],
        },
      });
      const both = new OpaPolicyEngine(runtime.resolved);
      await both.authorize('fetch', ALLOWED);
      await both.authorize('modules', {
        ...fetchInput('GET', 'https://cdn.test/allowed/x.js'),
        operation: 'import',
      });
      const err = await refusal(
        both.authorize('modules', {
          ...fetchInput('GET', 'https://cdn.test/other/x.js'),
          operation: 'import',
        }),
        'MCPV8_ERR_POLICY_DENIED',
      );
      expect(err.message).toBe(
        'import https://cdn.test/other/x.js denied by policy: local/modules (only /allowed/ modules)',
      );
    } finally {
      await runtime.close();
    }
  });
});

describe('module downloads under a modules policy (real runner processes)', () => {
  let server: Server;
  let pool: ChildRunnerPool;
  let cdnBase = '';
  let seq = 0;
  const requested: string[] = [];
  const modules: Record<string, { status?: number; location?: string; body?: string }> = {
    '/allowed/a.js': { body: 'export const a = "a";' },
    '/allowed/uses-denied.js': { body: 'export { d } from "/denied/d.js";' },
    '/allowed/hop.js': { status: 302, location: '/denied/d.js' },
    '/denied/d.js': { body: 'export const d = "d";' },
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      requested.push(req.url ?? '');
      const m = modules[req.url ?? ''];
      if (!m) return res.writeHead(404).end();
      res.writeHead(m.status ?? 200, {
        'content-type': 'application/javascript',
        ...(m.location && { location: m.location }),
      });
      res.end(m.body ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cdnBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const policies: ResolvedPolicies = {
      modules: { mode: 'all', timeoutMs: 2000, sources: [src('pe/modules')] },
    };
    pool = new ChildRunnerPool({ runners: 1, runner: { policies, cdnBase } });
    await pool.whenReady();
  });
  afterAll(async () => {
    await pool?.close();
    await new Promise((r) => server?.close(r));
  });

  const run = (code: string): Promise<ExecutionOutcome> =>
    pool.run(
      {
        executionId: `pm${++seq}`,
        code: code.replaceAll('CDN', cdnBase),
        language: 'javascript',
        heapMb: 16,
        timeoutMs: 10_000,
      },
      () => {},
      new AbortController().signal,
    );

  it('imports an allowed module', async () => {
    expect(await run('import { a } from "CDN/allowed/a.js"; a')).toMatchObject({
      status: 'completed',
      result: '"a"',
    });
  });

  it('refuses a denied module with a PolicyError, before downloading it', async () => {
    const outcome = await run(
      'let r; try { await import("CDN/denied/d.js"); r = "imported" } catch (e) { r = e.name + ": " + e.message } r',
    );
    expect(outcome.status).toBe('completed');
    expect(JSON.parse(outcome.result!)).toBe(
      `PolicyError: import ${cdnBase}/denied/d.js denied by policy: pe/modules (only /allowed/ modules)`,
    );
    const failed = await run('import { d } from "CDN/denied/d.js"; d');
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toMatch(/denied by policy: pe\/modules/);
    expect(requested).not.toContain('/denied/d.js');
  });

  it('refuses an allowed module importing a denied one', async () => {
    const outcome = await run('import { d } from "CDN/allowed/uses-denied.js"; d');
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.message).toMatch(/import .*\/denied\/d\.js denied by policy: pe\/modules/);
  });

  it('refuses a redirect from an allowed URL to a denied one', async () => {
    const outcome = await run(
      'let r; try { await import("CDN/allowed/hop.js"); r = "imported" } catch (e) { r = e.name + ": " + e.message } r',
    );
    expect(JSON.parse(outcome.result!)).toBe(
      `PolicyError: import ${cdnBase}/denied/d.js denied by policy: pe/modules (only /allowed/ modules)`,
    );
    expect(requested).toContain('/allowed/hop.js');
    expect(requested).not.toContain('/denied/d.js');
  });
});
