// Who the cluster gateway serves: a tenant must be named, by list or by namespace labels; with
// neither, every caller is refused. Namespace labels come from a fake reader here (the real one
// is exercised against the apiserver in test/integration/chart-rbac.int.test.ts), so the cache
// and the failure codes can be checked exactly.
import { describe, expect, it } from 'vitest';
import { isMcpv8Error } from '../../../src/core/index.ts';
import { Tenancy, type TenancyOptions } from '../../../src/gateway/auth/tenancy.ts';

const NAMESPACES: Record<string, Record<string, string>> = {
  'team-a': { 'mcpv8.dev/tenant': 'true', team: 'a' },
  'team-b': { 'mcpv8.dev/tenant': 'true' },
  'kube-system': {},
  other: { 'mcpv8.dev/tenant': 'false' },
};

function labelled(over: Partial<TenancyOptions> = {}) {
  const reads: string[] = [];
  let clock = 1_000;
  const tenancy = new Tenancy({
    namespaceLabels: { 'mcpv8.dev/tenant': 'true' },
    readLabels: async (ns) => {
      reads.push(ns);
      return NAMESPACES[ns];
    },
    now: () => clock,
    ...over,
  });
  return { tenancy, reads, advance: (ms: number) => (clock += ms) };
}

/** The error code `admit` refused with, or 'ok'. */
async function verdict(tenancy: Tenancy, namespace: string, account = 'agent'): Promise<string> {
  try {
    await tenancy.admit(namespace, account);
    return 'ok';
  } catch (err) {
    if (isMcpv8Error(err)) return err.code;
    throw err;
  }
}

describe('Tenancy', () => {
  it('refuses everyone when no tenant is named, and says how to name one', async () => {
    for (const unnamed of [new Tenancy(), new Tenancy({ tenants: [], namespaceLabels: {} })]) {
      expect(unnamed.configured).toBe(false);
      const err: unknown = await unnamed.admit('team-a', 'agent').catch((e: unknown) => e);
      expect(isMcpv8Error(err, 'MCPV8_ERR_AUTH_FORBIDDEN')).toBe(true);
      expect((err as Error).message).toContain('no tenant is configured');
      expect((err as Error).message).toContain('--tenants or --tenant-namespace-labels');
    }
  });

  it('treats an empty label set as no selector, not as every namespace', async () => {
    const { tenancy, reads } = labelled({ namespaceLabels: {} });
    expect(tenancy.configured).toBe(false);
    expect(await verdict(tenancy, 'team-a')).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    expect(reads).toEqual([]);
  });

  it('serves listed namespaces, and only the listed ServiceAccounts of those that name some', async () => {
    const tenancy = new Tenancy({
      tenants: [{ namespace: 'team-a', serviceAccounts: ['agent'] }, { namespace: 'team-b' }],
    });
    expect(tenancy.configured).toBe(true);
    expect(await verdict(tenancy, 'team-a', 'agent')).toBe('ok');
    expect(await verdict(tenancy, 'team-a', 'other')).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    expect(await verdict(tenancy, 'team-b', 'anyone')).toBe('ok');
    expect(await verdict(tenancy, 'team-c')).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
  });

  it('serves namespaces carrying every selector label, any of their ServiceAccounts', async () => {
    const { tenancy } = labelled({ namespaceLabels: { 'mcpv8.dev/tenant': 'true', team: 'a' } });
    expect(await verdict(tenancy, 'team-a', 'anyone')).toBe('ok');
    // One label of two, a wrong value, no labels, no such namespace.
    for (const ns of ['team-b', 'other', 'kube-system', 'missing']) {
      expect(await verdict(tenancy, ns), ns).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    }
  });

  it('combines both: a listed namespace keeps its ServiceAccount list even when its labels match', async () => {
    const { tenancy, reads } = labelled({ tenants: [{ namespace: 'team-a', serviceAccounts: ['agent'] }] });
    expect(await verdict(tenancy, 'team-a', 'other')).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    expect(await verdict(tenancy, 'team-b', 'other')).toBe('ok');
    // The list answers without the API.
    expect(reads).toEqual(['team-b']);
  });

  it('caches each namespace’s answer, yes or no, for the TTL and shares a pending read', async () => {
    const { tenancy, reads, advance } = labelled({ cacheTtlMs: 30_000 });
    expect(await Promise.all([verdict(tenancy, 'team-a'), verdict(tenancy, 'team-a')])).toEqual(['ok', 'ok']);
    expect(await verdict(tenancy, 'other')).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    expect(await verdict(tenancy, 'other')).toBe('MCPV8_ERR_AUTH_FORBIDDEN');
    expect(reads).toEqual(['team-a', 'other']);
    advance(30_001);
    await verdict(tenancy, 'team-a');
    expect(reads).toEqual(['team-a', 'other', 'team-a']);
  });

  it('keeps the cache bounded, evicting the oldest', async () => {
    const { tenancy, reads } = labelled({ cacheMax: 2 });
    for (const ns of ['team-a', 'team-b', 'other', 'team-a']) await verdict(tenancy, ns);
    expect(tenancy.cached).toBe(2);
    expect(reads).toEqual(['team-a', 'team-b', 'other', 'team-a']);
  });

  it('reports a namespace it could not read as retryable MCPV8_ERR_AUTH_UNAVAILABLE, and asks again next time', async () => {
    let fail = true;
    const reads: string[] = [];
    const tenancy = new Tenancy({
      namespaceLabels: { 'mcpv8.dev/tenant': 'true' },
      readLabels: async (ns) => {
        reads.push(ns);
        if (fail) throw new Error('connect ECONNREFUSED');
        return NAMESPACES[ns];
      },
    });
    const err: unknown = await tenancy.admit('team-a', 'agent').catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_AUTH_UNAVAILABLE')).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    fail = false;
    expect(await verdict(tenancy, 'team-a')).toBe('ok');
    expect(reads).toEqual(['team-a', 'team-a']);
  });

  it('describes what it serves, and needs a reader for labels', () => {
    const { tenancy } = labelled({ tenants: [{ namespace: 'team-z' }] });
    expect(tenancy.describe()).toEqual({
      tenants: ['team-z'],
      namespaceLabels: { 'mcpv8.dev/tenant': 'true' },
    });
    expect(() => new Tenancy({ namespaceLabels: { a: 'b' } })).toThrow(TypeError);
  });
});
