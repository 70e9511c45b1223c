// Expectations: pending creations/deletions per key, settled by observation or failure, expiring.
import { describe, expect, it } from 'vitest';
import { Expectations } from '../../../src/controller/runner-pool/index.ts';

describe('Expectations', () => {
  it('counts creations until observed or failed, per key', () => {
    const e = new Expectations();
    e.expectCreate('ns/a', 'a-1');
    e.expectCreate('ns/a', 'a-2');
    e.expectCreate('ns/b', 'b-1');
    expect(e.pendingCreates('ns/a')).toEqual(new Set(['a-1', 'a-2']));
    e.creationObserved('ns/a', 'a-1');
    e.creationObserved('ns/a', 'unknown');
    expect([...e.pendingCreates('ns/a')]).toEqual(['a-2']);
    e.creationObserved('ns/a', 'a-2');
    expect(e.pendingCreates('ns/a').size).toBe(0);
    expect(e.pendingCreates('ns/b').size).toBe(1);
    expect(e.pendingCreates('ns/none').size).toBe(0);
  });

  it('tracks deletions separately', () => {
    const e = new Expectations();
    e.expectDelete('k', 'p');
    expect(e.pendingCreates('k').size).toBe(0);
    expect([...e.pendingDeletes('k')]).toEqual(['p']);
    e.deletionObserved('k', 'p');
    expect(e.pendingDeletes('k').size).toBe(0);
  });

  it('expires unsettled expectations after the TTL and says when the next one expires', () => {
    let now = 1000;
    const e = new Expectations({ ttlMs: 60_000, now: () => now });
    expect(e.nextExpiryMs('k')).toBeUndefined();
    e.expectCreate('k', 'p1');
    now += 10_000;
    e.expectDelete('k', 'p2');
    expect(e.nextExpiryMs('k')).toBe(50_000);
    now += 50_000;
    expect(e.pendingCreates('k').size).toBe(0);
    expect(e.pendingDeletes('k').size).toBe(1);
    expect(e.nextExpiryMs('k')).toBe(10_000);
    now += 10_000;
    expect(e.pendingDeletes('k').size).toBe(0);
    expect(e.nextExpiryMs('k')).toBeUndefined();
  });

  it('forgets a key', () => {
    const e = new Expectations();
    e.expectCreate('k', 'p');
    e.forget('k');
    expect(e.pendingCreates('k').size).toBe(0);
  });
});
