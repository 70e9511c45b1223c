// The floors of a runner pod's template resources: what a pool whose pods could not live gets told
// (the reason names its Ready condition), and the quantities the checks read.
import { describe, expect, it } from 'vitest';
import { memoryFloorMib, POOLED_LIVE_HEAPS, RUNTIME_OVERHEAD_MIB } from '../../../src/api/v1alpha1/index.ts';
import {
  LOG_MARGIN_MIB,
  quantityValue,
  resourceProblems,
  resourcesFor,
} from '../../../src/controller/runner-pool/index.ts';
import { defaultedPool } from './fixtures.ts';

const withResources = (
  resources: { limits?: Record<string, string | number>; requests?: Record<string, string | number> },
  executionsPerPod = 1,
) => defaultedPool({ executionsPerPod, template: { resources } });

describe('resourceProblems', () => {
  it('finds nothing wrong with a defaulted pool, the chart-like template, or limits at their floors', () => {
    expect(resourceProblems(defaultedPool())).toEqual([]);
    expect(
      resourceProblems(
        withResources({
          requests: { cpu: '100m', 'ephemeral-storage': '64Mi' },
          limits: { cpu: '1', 'ephemeral-storage': '256Mi' },
        }),
      ),
    ).toEqual([]);
    expect(
      resourceProblems(
        withResources({
          limits: {
            memory: `${64 + RUNTIME_OVERHEAD_MIB}Mi`,
            cpu: '100m',
            'ephemeral-storage': `${64 + LOG_MARGIN_MIB}Mi`,
          },
        }),
      ),
    ).toEqual([]);
  });

  it('refuses a memory limit below maxHeapMb × isolates + runtime overhead, naming both numbers', () => {
    const [problem, ...rest] = resourceProblems(withResources({ limits: { memory: '128Mi' } }));
    expect(rest).toEqual([]);
    expect(problem).toEqual({
      reason: 'MemoryLimitBelowFloor',
      message: expect.stringContaining(
        `128Mi is below the ${64 + RUNTIME_OVERHEAD_MIB}Mi the runner needs`,
      ) as string,
    });
    expect(problem!.message).toContain(`64 × 1 isolate(s) + ${RUNTIME_OVERHEAD_MIB}Mi`);
    // Pooled pods keep live heaps: the floor counts them.
    const pooledFloor = 64 * (1 + POOLED_LIVE_HEAPS) + RUNTIME_OVERHEAD_MIB;
    expect(memoryFloorMib(defaultedPool({ executionsPerPod: 5 }).spec)).toBe(pooledFloor);
    expect(resourceProblems(withResources({ limits: { memory: '300Mi' } }, 5))[0]).toMatchObject({
      reason: 'MemoryLimitBelowFloor',
      message: expect.stringContaining(`below the ${pooledFloor}Mi`) as string,
    });
    expect(resourceProblems(withResources({ limits: { memory: `${pooledFloor}Mi` } }, 5))).toEqual([]);
  });

  it('refuses a CPU limit of 0 or below 100m, and an integer 0', () => {
    for (const cpu of ['0', 0, '50m', '0.05']) {
      expect(resourceProblems(withResources({ limits: { cpu } }))).toEqual([
        { reason: 'CpuLimitBelowFloor', message: expect.stringContaining('below the 100m') as string },
      ]);
    }
  });

  it('refuses an ephemeral-storage limit that cannot hold /tmp and the log, for the /tmp size in use', () => {
    expect(resourceProblems(withResources({ limits: { 'ephemeral-storage': '100Mi' } }))).toEqual([
      {
        reason: 'EphemeralStorageBelowFloor',
        message: expect.stringContaining(
          `below the ${64 + LOG_MARGIN_MIB}Mi the runner needs (/tmp 64Mi`,
        ) as string,
      },
    ]);
    const pool = withResources({ limits: { 'ephemeral-storage': '256Mi' } });
    expect(resourceProblems(pool)).toEqual([]);
    expect(resourceProblems(pool, '1Gi')[0]?.reason).toBe('EphemeralStorageBelowFloor');
  });

  it('refuses a request above its limit, and quantities that are negative or unreadable', () => {
    expect(resourceProblems(withResources({ requests: { cpu: '2' }, limits: { cpu: '1' } }))).toEqual([
      { reason: 'RequestAboveLimit', message: 'template.resources.requests.cpu 2 is above its limit 1' },
    ]);
    expect(resourceProblems(withResources({ limits: { memory: '-1Gi' } }))[0]?.reason).toBe(
      'InvalidQuantity',
    );
    expect(resourceProblems(withResources({ requests: { cpu: 'lots' } }))[0]?.reason).toBe('InvalidQuantity');
  });

  it('lists every problem, floors first', () => {
    const problems = resourceProblems(
      withResources({
        limits: { memory: '64Mi', cpu: '0', 'ephemeral-storage': '1Mi' },
        requests: { memory: '1Gi' },
      }),
    );
    expect(problems.map((p) => p.reason)).toEqual([
      'MemoryLimitBelowFloor',
      'CpuLimitBelowFloor',
      'EphemeralStorageBelowFloor',
      'RequestAboveLimit',
    ]);
  });

  it('never refuses what it derives itself', () => {
    for (const executionsPerPod of [1, 2, 50]) {
      const pool = defaultedPool({ executionsPerPod });
      const derived = resourcesFor(pool, '512Mi');
      expect(resourceProblems(withResources(derived, executionsPerPod), '512Mi')).toEqual([]);
    }
  });
});

describe('quantityValue', () => {
  it('reads the quantity forms in their base unit', () => {
    expect(quantityValue('256Mi')).toBe(256 * 2 ** 20);
    expect(quantityValue('1G')).toBe(1e9);
    expect(quantityValue('1e3')).toBe(1000);
    expect(quantityValue('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(quantityValue('250m')).toBe(0.25);
    expect(quantityValue('2')).toBe(2);
    expect(quantityValue('500u')).toBeCloseTo(0.0005);
    expect(quantityValue('-1')).toBe(-1);
    expect(quantityValue('lots')).toBeNaN();
    expect(quantityValue('1Mb')).toBeNaN();
  });
});
