import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, Mcpv8Error, isMcpv8Error, type ErrorCode } from '../../src/core/index.ts';

describe('error catalogue', () => {
  it('formats the template with the arguments and carries status and retryability', () => {
    const err = new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', ['--http-port must be 1–65535, got 0'], {
      details: { flag: '--http-port' },
    });
    expect(err.message).toBe('invalid configuration: --http-port must be 1–65535, got 0');
    expect(err.statusCode).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.details).toEqual({ flag: '--http-port' });
    expect(isMcpv8Error(err, 'MCPV8_ERR_CONFIG_INVALID')).toBe(true);
    expect(isMcpv8Error(err, 'MCPV8_ERR_SERVER_INTERNAL')).toBe(false);
    expect(isMcpv8Error(new Error('x'))).toBe(false);
  });

  it('names every code MCPV8_ERR_<AREA>_<PROBLEM>', () => {
    for (const code of Object.keys(ERRORS)) expect(code).toMatch(/^MCPV8_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
  });

  it('matches docs/errors.md both ways, status and retryability included', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\|\s*`(MCPV8_ERR_[A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|/gm)];
    const documented: Record<string, unknown> = Object.fromEntries(
      rows.map((m): [string, { status: number; retryable: boolean }] => [
        m[1]!,
        { status: Number(m[2]), retryable: m[3] === 'yes' },
      ]),
    );
    const defined = Object.fromEntries(
      (Object.keys(ERRORS) as ErrorCode[]).map((c) => [
        c,
        { status: ERRORS[c].statusCode, retryable: ERRORS[c].retryable },
      ]),
    );
    expect(documented).toEqual(defined);
  });
});
