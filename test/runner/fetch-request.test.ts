// The fetch host call's payload comes from hostile code: strict validation, web-like TypeErrors,
// and the policy input built from what the code asked for.
import { describe, expect, it } from 'vitest';
import { SandboxFacingError } from '../../src/runner/host/host-capability.ts';
import {
  MAX_REQUEST_BODY_BYTES,
  fetchPolicyInput,
  parseFetchPayload,
} from '../../src/runner/host/fetch-request.ts';
import { Redactor } from '../../src/runner/host/redaction.ts';

const payload = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 1, url: 'https://api.example.com/public/x?q=1', method: 'GET', headers: [], ...over });

function rejects(p: string): string {
  try {
    parseFetchPayload(p);
  } catch (err) {
    expect(err).toBeInstanceOf(SandboxFacingError);
    expect((err as SandboxFacingError).name).toBe('TypeError');
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('parseFetchPayload', () => {
  it('accepts a request and normalises method and headers', () => {
    const req = parseFetchPayload(
      payload({
        method: 'post',
        headers: [
          ['Content-Type', ' application/json '],
          ['X-A', '1'],
          ['x-a', '2'],
        ],
        body: { encoding: 'utf8', data: 'héllo' },
      }),
    );
    expect(req.method).toBe('POST');
    expect(req.url.href).toBe('https://api.example.com/public/x?q=1');
    expect(Object.fromEntries(req.headers)).toEqual({ 'content-type': 'application/json', 'x-a': '1, 2' });
    expect(req.body?.toString()).toBe('héllo');
    expect(req.redirect).toBe('follow');
  });

  it('decodes base64 bodies and keeps unusual methods as written', () => {
    const req = parseFetchPayload(payload({ method: 'Patch', body: { encoding: 'base64', data: 'AP+A' } }));
    expect(req.method).toBe('Patch');
    expect([...req.body!]).toEqual([0, 255, 128]);
  });

  it.each([
    ['not JSON', '{', 'not valid JSON'],
    ['an unknown field', payload({ extra: 1 }), 'extra'],
    ['a missing id', JSON.stringify({ url: 'https://a.com', method: 'GET', headers: [] }), 'id'],
    ['a relative URL', payload({ url: '/x' }), 'Failed to parse URL'],
    ['a file: URL', payload({ url: 'file:///etc/passwd' }), 'only http: and https:'],
    ['a data: URL', payload({ url: 'data:text/plain,hi' }), 'only http: and https:'],
    ['credentials in the URL', payload({ url: 'https://u:p@a.com/' }), 'credentials'],
    ['a too long URL', payload({ url: `https://a.com/${'x'.repeat(9000)}` }), 'url'],
    ['a method that is not a token', payload({ method: 'GE T' }), 'method'],
    ['CONNECT', payload({ method: 'connect' }), 'unsupported'],
    ['TRACE', payload({ method: 'TRACE' }), 'unsupported'],
    ['a header name that is not a token', payload({ headers: [['a b', '1']] }), 'invalid header name'],
    ['a header value with CRLF', payload({ headers: [['x', 'a\r\nInjected: 1']] }), 'invalid value'],
    ['the host header', payload({ headers: [['Host', 'evil.com']] }), 'host header cannot be set'],
    ['transfer-encoding', payload({ headers: [['transfer-encoding', 'chunked']] }), 'cannot be set'],
    [
      'too many headers',
      payload({ headers: Array.from({ length: 101 }, (_, i) => [`x-${i}`, '1']) }),
      'headers',
    ],
    [
      'headers too large',
      payload({
        headers: [
          ['x', 'v'.repeat(8000)],
          ...Array.from({ length: 9 }, (_, i) => [`x${i}`, 'v'.repeat(8000)]),
        ],
      }),
      'exceed',
    ],
    ['a GET with a body', payload({ body: { encoding: 'utf8', data: 'x' } }), 'cannot have body'],
    ['invalid base64', payload({ method: 'POST', body: { encoding: 'base64', data: '@@@' } }), 'base64'],
    ['an unknown encoding', payload({ method: 'POST', body: { encoding: 'hex', data: '00' } }), 'encoding'],
    ['an unknown redirect mode', payload({ redirect: 'sometimes' }), 'redirect'],
    [
      'a body over the limit',
      payload({
        method: 'POST',
        body: { encoding: 'utf8', data: 'é'.repeat(MAX_REQUEST_BODY_BYTES / 2 + 1) },
      }),
      'exceeds',
    ],
    [
      'a base64 body over the limit',
      payload({ method: 'POST', body: { encoding: 'base64', data: 'A'.repeat(800_000) } }),
      'body',
    ],
  ])('refuses %s', (_name, p, message) => {
    expect(rejects(p)).toContain(message);
  });
});

describe('fetchPolicyInput', () => {
  it('is the seed’s input shape, with default ports filled in', () => {
    const headers = new Map([['authorization', 'Bearer mine']]);
    expect(fetchPolicyInput(new URL('https://api.example.com/public/data?a=1&b=2'), 'GET', headers)).toEqual({
      operation: 'fetch',
      url: 'https://api.example.com/public/data?a=1&b=2',
      method: 'GET',
      headers: { authorization: 'Bearer mine' },
      url_parsed: {
        scheme: 'https',
        host: 'api.example.com',
        port: 443,
        path: '/public/data',
        query: 'a=1&b=2',
      },
    });
    expect(fetchPolicyInput(new URL('http://127.0.0.1:8080/'), 'POST', new Map()).url_parsed).toEqual({
      scheme: 'http',
      host: '127.0.0.1',
      port: 8080,
      path: '/',
      query: '',
    });
  });
});

describe('Redactor', () => {
  it('scrubs every occurrence of long values from text and bytes, and leaves short ones', () => {
    const r = new Redactor(['Bearer abcdefgh', 'abcdefgh', 'short']);
    expect(r.text('x Bearer abcdefgh y abcdefgh short')).toBe('x [redacted] y [redacted] short');
    expect(r.bytes(Buffer.from('abcdefgh-abcdefgh')).toString()).toBe('[redacted]-[redacted]');
    expect(new Redactor([]).bytes(Buffer.from('same')).toString()).toBe('same');
  });
});
