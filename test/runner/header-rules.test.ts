// Header injection rules: the --fetch-header syntax, the config file, host matching (the
// lookalike hosts a wildcard must not reach), method filters, and that a header the code set wins.
import { describe, expect, it } from 'vitest';
import {
  HeaderInjector,
  hostMatches,
  parseHeaderFlag,
  parseHeaderRulesJson,
  type HeaderRule,
} from '../../src/runner/host/header-rules.ts';

const SECRET = 'ghp_very-secret-token';

describe('--fetch-header', () => {
  it('parses host, header, value and methods', () => {
    expect(
      parseHeaderFlag(`host=API.github.com,header=Authorization,value=Bearer ${SECRET},methods=get;Post`),
    ).toEqual({
      rule: {
        host: 'api.github.com',
        methods: ['GET', 'POST'],
        headers: { Authorization: `Bearer ${SECRET}` },
      },
    });
    expect(parseHeaderFlag('host=*.example.com,header=X-API-Key,value=secret123')).toEqual({
      rule: { host: '*.example.com', headers: { 'X-API-Key': 'secret123' } },
    });
  });

  it('keeps commas and equals signs inside a value', () => {
    expect(parseHeaderFlag('host=a.com,header=X-K,value=a=1,b=2,c')).toEqual({
      rule: { host: 'a.com', headers: { 'X-K': 'a=1,b=2,c' } },
    });
  });

  it.each([
    ['header=X,value=v', 'host= is missing'],
    ['host=a.com,value=v', 'header= is missing'],
    ['host=a.com,header=X', 'value= is missing'],
    ['host=a.com,host=b.com,header=X,value=v', 'host= is given twice'],
    ['nonsense,host=a.com,header=X,value=v', 'segment 1 is not one of'],
    ['host=a b,header=X,value=v', 'host: must be a host name'],
    ['host=*,header=X,value=v', 'host: must be a host name'],
    ['host=a.com,header=X Y,value=v', 'header name must be an HTTP token'],
    ['host=a.com,header=X,value=v,methods=', 'methods'],
  ])('refuses %s (%s)', (spec, problem) => {
    const parsed = parseHeaderFlag(spec);
    expect(parsed).toHaveProperty('problem');
    expect((parsed as { problem: string }).problem).toContain(problem);
  });

  it('never echoes the value in a problem', () => {
    for (const spec of [
      `host=a.com,header=X,value=${SECRET}\r\nInjected: 1`,
      `host=bad host,header=X,value=${SECRET}`,
      `host=a.com,header=bad name,value=${SECRET}`,
      `value=${SECRET}`,
    ]) {
      const parsed = parseHeaderFlag(spec) as { problem: string };
      expect(parsed.problem).toBeDefined();
      expect(parsed.problem).not.toContain(SECRET);
    }
  });
});

describe('--fetch-header-config', () => {
  it('parses rules with several headers and optional methods', () => {
    const text = JSON.stringify([
      {
        host: 'api.github.com',
        methods: ['GET', 'POST'],
        headers: { Authorization: 'Bearer x', 'X-V': '1' },
      },
      { host: '*.example.com', headers: { 'X-API-Key': 'secret123' } },
    ]);
    expect(parseHeaderRulesJson(text)).toEqual({
      rules: [
        {
          host: 'api.github.com',
          methods: ['GET', 'POST'],
          headers: { Authorization: 'Bearer x', 'X-V': '1' },
        },
        { host: '*.example.com', headers: { 'X-API-Key': 'secret123' } },
      ],
    });
  });

  it.each([
    [`[{"host": "a.com", "headers": {"X": "${SECRET}"}`, 'is not valid JSON'],
    [`{"host": "a.com", "headers": {"X": "${SECRET}"}}`, 'must be a JSON array'],
    [`[{"host": "a.com", "headers": {}}]`, 'from 1 to'],
    [`[{"host": "a.com", "headers": {"X": "${SECRET}\\n"}}]`, 'without control characters'],
    [`[{"host": "a.com", "headers": {"X": "${SECRET}"}, "extra": 1}]`, 'extra'],
    [`[{"host": "a.com", "methods": ["G T"], "headers": {"X": "${SECRET}"}}]`, 'HTTP token'],
  ])('refuses %s without echoing values', (text, problem) => {
    const parsed = parseHeaderRulesJson(text) as { problem: string };
    expect(parsed.problem).toContain(problem);
    expect(parsed.problem).not.toContain(SECRET);
  });
});

describe('host matching', () => {
  it.each([
    ['api.github.com', 'api.github.com', true],
    ['api.github.com', 'API.GitHub.com', true],
    ['api.github.com', 'github.com', false],
    ['api.github.com', 'x.api.github.com', false],
    ['*.github.com', 'github.com', true],
    ['*.github.com', 'api.github.com', true],
    ['*.github.com', 'sub.api.github.com', true],
    ['*.example.com', 'evilexample.com', false],
    ['*.example.com', 'example.com.evil.org', false],
    ['*.example.com', 'example.com.', true],
    ['*.example.com', 'notexample.com', false],
    ['example.com', 'evilexample.com', false],
    ['*.0.0.1', '127.0.0.1', false],
    ['127.0.0.1', '127.0.0.1', true],
    ['[::1]', '[::1]', true],
  ])('%s vs %s → %s', (pattern, host, expected) => {
    expect(hostMatches(pattern, host)).toBe(expected);
  });
});

describe('HeaderInjector', () => {
  const rules: HeaderRule[] = [
    { host: 'api.example.com', methods: ['GET'], headers: { Authorization: 'Bearer get-only' } },
    { host: '*.example.com', headers: { Authorization: 'Bearer any', 'X-API-Key': 'k' } },
  ];
  const injector = new HeaderInjector(rules);
  const at = (url: string, method: string, present: string[] = []) =>
    Object.fromEntries(injector.headersFor(new URL(url), method, new Set(present)));

  it('applies matching rules in order, the first naming a header winning', () => {
    expect(at('https://api.example.com/x', 'GET')).toEqual({
      authorization: 'Bearer get-only',
      'x-api-key': 'k',
    });
    expect(at('https://api.example.com/x', 'post')).toEqual({
      authorization: 'Bearer any',
      'x-api-key': 'k',
    });
    expect(at('https://example.com/x', 'GET')).toEqual({ authorization: 'Bearer any', 'x-api-key': 'k' });
    expect(at('https://evilexample.com/x', 'GET')).toEqual({});
  });

  it('never replaces a header the code set', () => {
    expect(at('https://api.example.com/x', 'GET', ['authorization'])).toEqual({ 'x-api-key': 'k' });
  });

  it('lists every value, for scrubbing', () => {
    expect(injector.values().sort()).toEqual(['Bearer any', 'Bearer get-only', 'k']);
  });
});
