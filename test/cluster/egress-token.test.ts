// Egress tokens: what the controller mints the broker accepts, for that execution and until it
// expires; anything altered, signed with another key, expired or malformed is refused.
import { describe, expect, it } from 'vitest';
import { EgressTokenKey, MIN_EGRESS_KEY_BYTES } from '../../src/cluster/egress-token.ts';
import { isMcpv8Error } from '../../src/core/index.ts';

const KEY = new EgressTokenKey('k'.repeat(MIN_EGRESS_KEY_BYTES));
const NOW = 1_800_000_000_000;
const claims = { namespace: 'team-a', executionId: 'team-a/exec-1', expiresAt: NOW + 60_000 };

describe('egress tokens', () => {
  it('carry the namespace, execution and expiry they were minted for', () => {
    expect(KEY.verify(KEY.mint(claims), NOW)).toEqual({ claims });
  });

  it('are refused once expired', () => {
    expect(KEY.verify(KEY.mint(claims), claims.expiresAt)).toEqual({ problem: 'expired' });
  });

  it('are refused when signed with another key', () => {
    const other = new EgressTokenKey('o'.repeat(MIN_EGRESS_KEY_BYTES));
    expect(KEY.verify(other.mint(claims), NOW)).toEqual({ problem: 'forged' });
  });

  it('are refused when their claims are altered (another tenant, a later expiry)', () => {
    const [version, , signature] = KEY.mint(claims).split('.');
    for (const altered of [
      { ns: 'team-b', ex: 'team-b/exec-1', exp: claims.expiresAt },
      { ns: 'team-a', ex: 'team-a/exec-1', exp: claims.expiresAt + 3_600_000 },
    ]) {
      const body = Buffer.from(JSON.stringify(altered)).toString('base64url');
      expect(KEY.verify(`${version}.${body}.${signature}`, NOW)).toEqual({ problem: 'forged' });
    }
  });

  it('are refused when malformed', () => {
    for (const token of ['', 'v1', 'v1.a.b', 'v2.a.b', 'x'.repeat(5000), `${KEY.mint(claims)}.extra`])
      expect(KEY.verify(token, NOW)).toEqual({ problem: 'forged' });
  });

  it('need a key of at least 32 bytes', () => {
    let caught: unknown;
    try {
      new EgressTokenKey('short');
    } catch (err) {
      caught = err;
    }
    expect(isMcpv8Error(caught, 'MCPV8_ERR_CONFIG_INVALID')).toBe(true);
    expect(EgressTokenKey.fromEnv({})).toBeUndefined();
  });
});
