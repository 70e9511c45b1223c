// The policy flags (and their MCP_V8_* equivalents) and the --policies-json format →
// Config['policies'] → the ResolvedPolicies runners get.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helpText, loadConfig, type Config } from '../../src/cli/config.ts';
import { localRegoFiles } from '../../src/cli/policy-config.ts';
import { resolvePolicies } from '../../src/cli/policy-runtime.ts';
import { ResolvedPoliciesSchema } from '../../src/core/index.ts';
import { configProblem } from './config-problem.ts';

const dir = mkdtempSync(join(tmpdir(), 'policy-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rego'));
writeFileSync(join(dir, 'rego', 'fs.rego'), 'package mcp.fs\n');
writeFileSync(join(dir, 'rego', 'modules.rego'), 'package mcp.modules\n');

let files = 0;
/** Writes `content` (an object as JSON, or raw text) to a new file under the temp dir. */
function policiesFile(content: unknown): string {
  const path = join(dir, `policies-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const policies = (argv: string[], env: NodeJS.ProcessEnv = {}) => (loadConfig(argv, env) as Config).policies;
const problem = configProblem;

const seedExample = {
  fetch: { mode: 'all', timeout_ms: 2000, sources: [{ url: 'http://opa:8181', path: 'mcp/fetch' }] },
  filesystem: { sources: [{ rego: ['./rego/fs.rego'], path: 'mcp/fs' }] },
  modules: { mode: 'any', sources: [{ rego: ['./rego/modules.rego'], path: 'mcp/modules' }] },
};

describe('policy flags', () => {
  it('configures no policy by default', () => {
    expect(policies([])).toEqual({ categories: {}, opaBinary: 'opa' });
  });

  it('takes --opa-url as the fetch policy, mcp/fetch by default, like the seed', () => {
    expect(policies(['--opa-url', 'http://localhost:8181/'])).toEqual({
      categories: {
        fetch: {
          mode: 'all',
          timeoutMs: 2000,
          sources: [{ kind: 'remote', url: 'http://localhost:8181', path: 'mcp/fetch' }],
        },
      },
      opaBinary: 'opa',
    });
    expect(
      policies(['--opa-url', 'https://opa.internal', '--opa-fetch-policy', 'acme/egress/allow']).categories
        .fetch?.sources,
    ).toEqual([{ kind: 'remote', url: 'https://opa.internal', path: 'acme/egress/allow' }]);
  });

  it('reads the MCP_V8_* environment equivalents', () => {
    const config = policies([], {
      MCP_V8_OPA_URL: 'http://127.0.0.1:8181',
      MCP_V8_OPA_FETCH_POLICY: 'x/y',
      MCP_V8_OPA_BINARY: '/usr/local/bin/opa',
    });
    expect(config.opaBinary).toBe('/usr/local/bin/opa');
    expect(config.categories.fetch?.sources).toEqual([
      { kind: 'remote', url: 'http://127.0.0.1:8181', path: 'x/y' },
    ]);
  });

  it('refuses a bad --opa-url, --opa-fetch-policy without it, and a bad decision path', () => {
    expect(problem(['--opa-url', 'opa:8181'])).toMatch(/--opa-url must be an http\(s\) URL, got "opa:8181"/);
    expect(problem(['--opa-url', 'ftp://opa'])).toMatch(/--opa-url must be an http\(s\) URL/);
    expect(problem(['--opa-url', 'http://opa/?x=1'])).toMatch(/--opa-url must not have a query/);
    expect(problem(['--opa-fetch-policy', 'mcp/fetch'])).toMatch(/--opa-fetch-policy needs --opa-url/);
    expect(problem(['--opa-url', 'http://opa', '--opa-fetch-policy', 'mcp.fetch'])).toMatch(
      /--opa-fetch-policy must be a decision path like mcp\/fetch, got "mcp.fetch"/,
    );
  });

  it('never echoes credentials in an OPA URL', () => {
    const message = problem(['--opa-url', 'http://admin:hunter2@opa:8181']);
    expect(message).toMatch(/--opa-url must not contain credentials/);
    expect(message).not.toContain('hunter2');
  });

  it('lists the flags in --help', () => {
    for (const flag of ['--opa-url', '--opa-fetch-policy', '--policies-json', '--opa-binary'])
      expect(helpText()).toContain(flag);
  });
});

describe('--policies-json', () => {
  it('reads the documented format: remote and local sources, modes, timeouts and defaults', () => {
    const config = policies(['--policies-json', policiesFile(seedExample)]);
    expect(config.categories).toEqual({
      fetch: {
        mode: 'all',
        timeoutMs: 2000,
        sources: [{ kind: 'remote', url: 'http://opa:8181', path: 'mcp/fetch' }],
      },
      filesystem: {
        mode: 'all',
        timeoutMs: 2000,
        sources: [{ kind: 'rego', files: [join(dir, 'rego', 'fs.rego')], path: 'mcp/fs' }],
      },
      modules: {
        mode: 'any',
        timeoutMs: 2000,
        sources: [{ kind: 'rego', files: [join(dir, 'rego', 'modules.rego')], path: 'mcp/modules' }],
      },
    });
    expect(localRegoFiles(config)).toEqual([join(dir, 'rego', 'fs.rego'), join(dir, 'rego', 'modules.rego')]);
  });

  it('merges the --opa-url shorthand into the file’s fetch sources, under the file’s mode and timeout', () => {
    const file = policiesFile({
      fetch: { mode: 'any', timeout_ms: 500, sources: [{ rego: ['rego/fs.rego'], path: 'a/b' }] },
    });
    expect(
      policies(['--policies-json', file, '--opa-url', 'http://127.0.0.1:8181']).categories.fetch,
    ).toEqual({
      mode: 'any',
      timeoutMs: 500,
      sources: [
        { kind: 'rego', files: [join(dir, 'rego', 'fs.rego')], path: 'a/b' },
        { kind: 'remote', url: 'http://127.0.0.1:8181', path: 'mcp/fetch' },
      ],
    });
  });

  it('reports every problem of a file at once', () => {
    const file = policiesFile({
      fetch: { mode: 'some', timeout_ms: 0, sources: [{ url: 'opa', path: 'mcp/fetch' }] },
      filesystem: { sources: [] },
      modules: { sources: [{ url: 'http://opa', rego: ['rego/fs.rego'], path: 'p' }, { path: 'p' }] },
      fetch2: { sources: [{ rego: ['gone.rego'], path: 'p' }] },
      network: {},
    });
    const message = problem(['--policies-json', file]);
    expect(message).toContain(`--policies-json ${file}: fetch.mode:`);
    expect(message).toContain('fetch.timeout_ms:');
    expect(message).toMatch(/fetch\.sources\.0\.url: must be an http\(s\) URL, got "opa"/);
    expect(message).toContain('filesystem.sources:');
    expect(message).toMatch(/modules\.sources\.0: give either "url" \(a remote OPA\) or "rego"/);
    expect(message).toMatch(/modules\.sources\.1: give either/);
    expect(message).toMatch(/\(top level\): Unrecognized keys?: .*network/);
    // Even with schema problems, a missing rego file is named too.
    expect(message).toContain('fetch2.sources.0.rego.0: gone.rego does not exist');
  });

  it('refuses unknown keys inside categories and sources', () => {
    const message = problem([
      '--policies-json',
      policiesFile({ fetch: { timeout: 1, sources: [{ url: 'http://opa', path: 'p', headers: {} }] } }),
    ]);
    expect(message).toMatch(/fetch: Unrecognized key.*timeout/);
    expect(message).toMatch(/fetch\.sources\.0: Unrecognized key.*headers/);
  });

  it('refuses rego files that are missing or are not .rego files, relative to the JSON file', () => {
    const message = problem([
      '--policies-json',
      policiesFile({
        filesystem: { sources: [{ rego: ['rego/fs.rego', 'rego/missing.rego', 'rego'], path: 'mcp/fs' }] },
      }),
    ]);
    expect(message).toContain(
      `filesystem.sources.0.rego.1: rego/missing.rego does not exist (resolved to ${join(dir, 'rego', 'missing.rego')})`,
    );
    expect(message).toContain('filesystem.sources.0.rego.2: rego is not a .rego file');
    expect(message).not.toContain('rego.0');
  });

  it('reads filesystem roots as absolute directories and refuses relative ones', () => {
    const file = policiesFile({ filesystem: { ...seedExample.filesystem, roots: ['/srv/data/', '/tmp'] } });
    expect(policies(['--policies-json', file]).filesystemRoots).toEqual(['/srv/data', '/tmp']);
    const bad = policiesFile({ filesystem: { ...seedExample.filesystem, roots: ['data'] } });
    expect(problem(['--policies-json', bad])).toMatch(/filesystem\.roots\.0: must be an absolute path/);
    expect(policies(['--policies-json', policiesFile(seedExample)]).filesystemRoots).toBeUndefined();
  });

  it('refuses a file that is missing or not JSON', () => {
    expect(problem(['--policies-json', join(dir, 'nope.json')])).toMatch(
      /--policies-json .*nope\.json: cannot be read \(ENOENT\)/,
    );
    expect(problem(['--policies-json', policiesFile('{"fetch": ')])).toMatch(/: not valid JSON/);
    expect(problem(['--policies-json', policiesFile('[]')])).toMatch(/\(top level\): .*object/);
  });

  it('is reported together with other bad flags', () => {
    const message = problem(['--policies-json', join(dir, 'nope.json'), '--execution-timeout', '0']);
    expect(message).toContain('--execution-timeout');
    expect(message).toContain('--policies-json');
  });
});

describe('resolved for the runners', () => {
  it('points local sources at the managed OPA and keeps remote ones', () => {
    const config = policies(['--policies-json', policiesFile(seedExample)]);
    const resolved = resolvePolicies(config, 'http://127.0.0.1:40001');
    expect(resolved).toEqual({
      fetch: { mode: 'all', timeoutMs: 2000, sources: [{ url: 'http://opa:8181', path: 'mcp/fetch' }] },
      filesystem: {
        mode: 'all',
        timeoutMs: 2000,
        sources: [{ url: 'http://127.0.0.1:40001', path: 'mcp/fs' }],
      },
      modules: {
        mode: 'any',
        timeoutMs: 2000,
        sources: [{ url: 'http://127.0.0.1:40001', path: 'mcp/modules' }],
      },
    });
    expect(ResolvedPoliciesSchema.parse(resolved)).toEqual(resolved);
  });

  it('needs no managed OPA for remote sources only', () => {
    expect(resolvePolicies(policies(['--opa-url', 'http://opa:8181']), undefined)).toEqual({
      fetch: { mode: 'all', timeoutMs: 2000, sources: [{ url: 'http://opa:8181', path: 'mcp/fetch' }] },
    });
  });
});
