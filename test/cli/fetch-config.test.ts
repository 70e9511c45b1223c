// The header injection flags (--fetch-header, --fetch-header-config, MCP_V8_FETCH_HEADER) →
// Config['fetch']: merged rules, a fetch policy required, problems that never quote a value.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helpText, loadConfig, type Config } from '../../src/cli/config.ts';
import { configProblem } from './config-problem.ts';

const SECRET = 'ghp_do-not-print-me';
const OPA = ['--opa-url', 'http://127.0.0.1:8181'];
const dir = mkdtempSync(join(tmpdir(), 'fetch-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function rulesFile(content: unknown): string {
  const path = join(dir, `rules-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const fetchConfig = (argv: string[], env: NodeJS.ProcessEnv = {}) => (loadConfig(argv, env) as Config).fetch;
const problem = configProblem;

describe('fetch header flags', () => {
  it('has no rules by default', () => {
    expect(fetchConfig([])).toEqual({ headerRules: [] });
  });

  it('merges --fetch-header rules (in order) with the config file’s', () => {
    const file = rulesFile([{ host: '*.example.com', methods: ['GET'], headers: { 'X-API-Key': SECRET } }]);
    expect(
      fetchConfig([
        ...OPA,
        '--fetch-header',
        `host=api.github.com,header=Authorization,value=Bearer ${SECRET}`,
        '--fetch-header',
        'host=api.example.com,header=X-API-Key,value=secret123,methods=GET;POST',
        '--fetch-header-config',
        file,
      ]).headerRules,
    ).toEqual([
      { host: 'api.github.com', headers: { Authorization: `Bearer ${SECRET}` } },
      { host: 'api.example.com', methods: ['GET', 'POST'], headers: { 'X-API-Key': 'secret123' } },
      { host: '*.example.com', methods: ['GET'], headers: { 'X-API-Key': SECRET } },
    ]);
  });

  it('reads MCP_V8_FETCH_HEADER as one rule per line', () => {
    const env = { MCP_V8_FETCH_HEADER: 'host=a.com,header=X,value=1,2\nhost=b.com,header=Y,value=3\n' };
    expect(fetchConfig(OPA, env).headerRules).toEqual([
      { host: 'a.com', headers: { X: '1,2' } },
      { host: 'b.com', headers: { Y: '3' } },
    ]);
  });

  it('refuses rules without a fetch policy', () => {
    expect(problem(['--fetch-header', `host=a.com,header=X,value=${SECRET}`])).toContain(
      'need a fetch policy',
    );
    expect(problem(['--fetch-header-config', rulesFile([])])).toContain('need a fetch policy');
  });

  it.each([
    [[`host=a.com,header=X,value=${SECRET}\r`], '--fetch-header #1'],
    [[`host=a b,header=X,value=${SECRET}`], '--fetch-header #1: host: must be a host name'],
    [['host=a.com,header=X,value=ok', `header=X,value=${SECRET}`], '--fetch-header #2: host= is missing'],
  ])('names the problem of %j without the value', (rules, message) => {
    const msg = problem([...OPA, ...rules.flatMap((r) => ['--fetch-header', r])]);
    expect(msg).toContain(message);
    expect(msg).not.toContain(SECRET);
  });

  it.each([
    ['invalid JSON', `[{"host": "a.com", "headers": {"X": "${SECRET}"`, 'is not valid JSON'],
    ['a bad value', [{ host: 'a.com', headers: { X: `${SECRET}\n` } }], '0.headers.X'],
    ['an unknown field', [{ host: 'a.com', headers: { X: SECRET }, hots: 'x' }], 'hots'],
  ])('refuses a config file with %s, without quoting values', (_name, content, message) => {
    const msg = problem([...OPA, '--fetch-header-config', rulesFile(content)]);
    expect(msg).toContain(message);
    expect(msg).not.toContain(SECRET);
  });

  it('refuses a missing config file', () => {
    expect(problem([...OPA, '--fetch-header-config', join(dir, 'nope.json')])).toContain(
      'cannot be read (ENOENT)',
    );
  });

  it('documents the flags in --help', () => {
    expect(helpText()).toContain('--fetch-header <value>');
    expect(helpText()).toContain('--fetch-header-config <value>');
  });
});
