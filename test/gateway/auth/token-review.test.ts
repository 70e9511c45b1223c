// TokenReviewAuthenticator without a cluster: the review is a fake, so the mapping of usernames
// to tenants, the tenancy check (tenancy.test.ts covers its rules), the cache (TTL, bound, keyed
// by digest) and the failure codes can be checked exactly.
import { describe, expect, it } from 'vitest';
import { isMcpv8Error } from '../../../src/core/index.ts';
import {
  TokenReviewAuthenticator,
  type ReviewResult,
  type TokenReviewAuthenticatorOptions,
} from '../../../src/gateway/auth/token-review.ts';
import { Tenancy } from '../../../src/gateway/auth/tenancy.ts';
import { StaticTokenAuthenticator, bearerToken } from '../../../src/gateway/auth/authenticator.ts';

const USERS: Record<string, string> = {
  'tok-a': 'system:serviceaccount:team-a:agent',
  'tok-a2': 'system:serviceaccount:team-a:other',
  'tok-b': 'system:serviceaccount:team-b:agent',
  'tok-user': 'alice@example.com',
};

function fake(over: Partial<TokenReviewAuthenticatorOptions> = {}) {
  const calls: string[] = [];
  let clock = 1_000;
  const auth = new TokenReviewAuthenticator({
    review: async (token): Promise<ReviewResult> => {
      calls.push(token);
      const username = USERS[token];
      return username ? { authenticated: true, username } : { authenticated: false };
    },
    tenancy: new Tenancy({ tenants: [{ namespace: 'team-a' }, { namespace: 'team-b' }] }),
    now: () => clock,
    ...over,
  });
  return { auth, calls, advance: (ms: number) => (clock += ms) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isMcpv8Error(err)) return err.code;
    throw err;
  }
  return 'ok';
}

describe('TokenReviewAuthenticator', () => {
  it('maps a ServiceAccount of a tenant to its namespace', async () => {
    const { auth } = fake();
    await expect(auth.authenticate('tok-a')).resolves.toEqual({
      namespace: 'team-a',
      subject: 'system:serviceaccount:team-a:agent',
    });
    await expect(auth.authenticate('tok-b')).resolves.toMatchObject({ namespace: 'team-b' });
  });

  it('refuses a missing or unknown token (401) and a user that is no ServiceAccount (403)', async () => {
    const { auth } = fake();
    expect(await code(auth.authenticate(undefined))).toBe('MCPV8_ERR_AUTH_REQUIRED');
    expect(await code(auth.authenticate(''))).toBe('MCPV8_ERR_AUTH_REQUIRED');
    expect(await code(auth.authenticate('nope'))).toBe('MCPV8_ERR_AUTH_REQUIRED');
    expect(await code(auth.authenticate('tok-user'))).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
  });

  it('serves only the tenants and ServiceAccounts its tenancy names', async () => {
    const tenancy = new Tenancy({ tenants: [{ namespace: 'team-a', serviceAccounts: ['agent'] }] });
    const { auth } = fake({ tenancy });
    expect(await code(auth.authenticate('tok-a'))).toBe('ok');
    expect(await code(auth.authenticate('tok-a2'))).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    expect(await code(auth.authenticate('tok-b'))).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
  });

  it('refuses every valid token when no tenant is configured', async () => {
    const { auth } = fake({ tenancy: new Tenancy() });
    const err: unknown = await auth.authenticate('tok-a').catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_AUTH_FORBIDDEN')).toBe(true);
    expect((err as Error).message).toContain('no tenant is configured');
    expect(await code(auth.authenticate('tok-b'))).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
  });

  it('caches authenticated reviews for the TTL, never failed ones', async () => {
    const { auth, calls, advance } = fake({ cacheTtlMs: 30_000 });
    await auth.authenticate('tok-a');
    await auth.authenticate('tok-a');
    expect(calls).toEqual(['tok-a']);
    advance(29_999);
    await auth.authenticate('tok-a');
    expect(calls).toHaveLength(1);
    advance(2);
    await auth.authenticate('tok-a');
    expect(calls).toHaveLength(2);
    await code(auth.authenticate('nope'));
    await code(auth.authenticate('nope'));
    expect(calls.filter((c) => c === 'nope')).toHaveLength(2);
  });

  it('keeps the cache bounded, evicting the oldest, and keys it by digest, not the token', async () => {
    const { auth, calls } = fake({ cacheMax: 2 });
    await auth.authenticate('tok-a');
    await auth.authenticate('tok-b');
    await auth.authenticate('tok-a2');
    expect(auth.cached).toBe(2);
    await auth.authenticate('tok-a'); // evicted: reviewed again
    expect(calls).toEqual(['tok-a', 'tok-b', 'tok-a2', 'tok-a']);
    // The token text is nowhere in the authenticator's own state.
    expect(JSON.stringify(Object.entries(auth))).not.toContain('tok-');
  });

  it('reports an unreachable API server as retryable MCPV8_ERR_AUTH_UNAVAILABLE', async () => {
    const auth = new TokenReviewAuthenticator({
      review: () => Promise.reject(new Error('connect ECONNREFUSED')),
      tenancy: new Tenancy({ tenants: [{ namespace: 'team-a' }] }),
    });
    const err: unknown = await auth.authenticate('tok-a').catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_AUTH_UNAVAILABLE')).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect((err as Error).message).not.toContain('tok-a');
  });
});

describe('StaticTokenAuthenticator and bearerToken', () => {
  it('maps every configured token to default', async () => {
    const auth = new StaticTokenAuthenticator(['0123456789abcdef']);
    await expect(auth.authenticate('0123456789abcdef')).resolves.toMatchObject({ namespace: 'default' });
    expect(await code(auth.authenticate('0123456789abcdeX'))).toBe('MCPV8_ERR_AUTH_REQUIRED');
    expect(await code(auth.authenticate(undefined))).toBe('MCPV8_ERR_AUTH_REQUIRED');
  });

  it('reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer ')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
