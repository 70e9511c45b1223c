// Proves the OPA in the suite is the real engine: it compiles Rego (rejecting bad policies with
// the compiler's error) and evaluates a policy against `input` with the seed README's example.
import { describe, expect, inject, it } from 'vitest';

const opa = inject('services').opa!;

const fetchPolicy = `package mcp.fetch

default allow := false

allow if {
  input.method == "GET"
  input.url_parsed.host == "api.example.com"
  startswith(input.url_parsed.path, "/public/")
}
`;

async function decide(input: unknown): Promise<unknown> {
  const res = await fetch(`${opa.url}/v1/data/mcp/fetch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { result?: unknown }).result;
}

function fetchInput(method: string, url: string) {
  const u = new URL(url);
  return {
    operation: 'fetch',
    url,
    method,
    headers: {},
    url_parsed: {
      scheme: u.protocol.slice(0, -1),
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      query: u.search,
    },
  };
}

describe('OPA (real server)', () => {
  it('is OPA 1.x', () => {
    expect(opa.version).toMatch(/^1\./);
  });

  it('evaluates a Rego policy against input', async () => {
    const put = await fetch(`${opa.url}/v1/policies/smoke-fetch`, { method: 'PUT', body: fetchPolicy });
    expect(put.status).toBe(200);
    expect(await decide(fetchInput('GET', 'https://api.example.com/public/data'))).toEqual({ allow: true });
    expect(await decide(fetchInput('POST', 'https://api.example.com/public/data'))).toEqual({ allow: false });
    expect(await decide(fetchInput('GET', 'https://api.example.com/private/x'))).toEqual({ allow: false });
    expect(await decide(fetchInput('GET', 'https://evil.example.org/public/x'))).toEqual({ allow: false });
  });

  it('rejects a policy that does not compile, with the compiler message', async () => {
    const res = await fetch(`${opa.url}/v1/policies/smoke-bad`, {
      method: 'PUT',
      body: 'package bad\nallow if { input.x == }\n',
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/rego_parse_error/);
  });
});
