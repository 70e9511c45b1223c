// StartBackoff: the wait before creating pods for a pool whose pods keep ending at start.
import { describe, expect, it } from 'vitest';
import { StartBackoff } from '../../../src/controller/runner-pool/index.ts';

const KEY = 'mcp/default';

describe('StartBackoff', () => {
  it('lets the first round through, then doubles the wait from 1 s up to the 5 min cap', () => {
    const b = new StartBackoff();
    expect([1, 2, 3, 4, 10, 11, 40].map((r) => b.waitMs(r))).toEqual([
      0, 1000, 2000, 4000, 256_000, 300_000, 300_000,
    ]);
  });

  it('counts ended pods and rounds, and waits from the time of the last round', () => {
    const b = new StartBackoff({ initialMs: 100, maxMs: 1000 });
    expect(b.observe(KEY, 2, 0, 0)).toBe(false);
    expect(b.remainingMs(KEY, 0)).toBe(0);
    expect(b.observe(KEY, 1, 0, 50)).toBe(true);
    expect(b.remainingMs(KEY, 50)).toBe(100);
    expect(b.remainingMs(KEY, 120)).toBe(30);
    expect(b.state(KEY)).toMatchObject({ failedPods: 3, rounds: 2, notBefore: 150 });
    // Nothing new ended: the wait stands.
    expect(b.observe(KEY, 0, 0, 120)).toBe(false);
    expect(b.remainingMs(KEY, 120)).toBe(30);
  });

  it('resets when the ready-runner count rises, not when it only stays or falls', () => {
    const b = new StartBackoff();
    b.observe(KEY, 1, 2, 0);
    b.observe(KEY, 1, 1, 0);
    expect(b.remainingMs(KEY, 0)).toBe(1000);
    b.observe(KEY, 0, 1, 0);
    expect(b.state(KEY)?.rounds).toBe(2);
    b.observe(KEY, 0, 2, 0);
    expect(b.state(KEY)).toBeUndefined();
    expect(b.remainingMs(KEY, 0)).toBe(0);
  });

  it('forgets a pool', () => {
    const b = new StartBackoff();
    b.observe(KEY, 1, 0, 0);
    b.observe(KEY, 1, 0, 0);
    b.forget(KEY);
    expect(b.remainingMs(KEY, 0)).toBe(0);
    expect(b.state(KEY)).toBeUndefined();
  });
});
