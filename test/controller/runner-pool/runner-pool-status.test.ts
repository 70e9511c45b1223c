// computeStatus / statusChanged: counts, selector, Ready condition and its transition time.
import { describe, expect, it } from 'vitest';
import { computeStatus, poolSelector, statusChanged } from '../../../src/controller/runner-pool/index.ts';
import { defaultedPool } from './fixtures.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';

describe('computeStatus', () => {
  it('reports live pods, ready runners capped at live, the selector and observedGeneration', () => {
    const pool = defaultedPool({ replicas: 3 });
    const s = computeStatus(pool, { live: 2, readyRunners: 5 }, T0);
    expect(s).toMatchObject({
      replicas: 2,
      readyReplicas: 2,
      selector: 'mcpv8.dev/runner-pool=default',
      observedGeneration: 1,
    });
    expect(s.conditions).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'RunnersNotReady',
        message: '2 of 3 runners ready',
        lastTransitionTime: T0,
        observedGeneration: 1,
      },
    ]);
    expect(poolSelector('x')).toBe('mcpv8.dev/runner-pool=x');
  });

  it('is Ready when ready runners reach replicas (also for zero replicas)', () => {
    expect(
      computeStatus(defaultedPool({ replicas: 2 }), { live: 2, readyRunners: 2 }, T0).conditions![0],
    ).toMatchObject({
      status: 'True',
      reason: 'RunnersReady',
    });
    expect(
      computeStatus(defaultedPool({ replicas: 0 }), { live: 0, readyRunners: 0 }, T0).conditions![0]!.status,
    ).toBe('True');
  });

  it('keeps lastTransitionTime while the status stays, moves it when it flips', () => {
    const pool = defaultedPool({ replicas: 1 });
    pool.status = computeStatus(pool, { live: 1, readyRunners: 0 }, T0);
    const same = computeStatus(pool, { live: 1, readyRunners: 0 }, T1);
    expect(same.conditions![0]!.lastTransitionTime).toBe(T0);
    expect(statusChanged(pool.status, same)).toBe(false);
    const flipped = computeStatus(pool, { live: 1, readyRunners: 1 }, T1);
    expect(flipped.conditions![0]!.lastTransitionTime).toBe(T1);
    expect(statusChanged(pool.status, flipped)).toBe(true);
  });

  it('reports an invalid spec as Ready False InvalidSpec', () => {
    const s = computeStatus(defaultedPool(), { live: 0, readyRunners: 0, invalid: 'bad name' }, T0);
    expect(s.conditions![0]).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: 'bad name' });
  });

  it('statusChanged ignores key order and sees any difference', () => {
    expect(statusChanged({ replicas: 1, readyReplicas: 0 }, { readyReplicas: 0, replicas: 1 })).toBe(false);
    expect(statusChanged(undefined, { replicas: 0 })).toBe(true);
  });
});
