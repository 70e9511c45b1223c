// The template hash on runner pods and which outdated pods a rollout replaces.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  TEMPLATE_HASH_LABEL,
  buildRunnerPod,
  pickOutdated,
  templateHashOf,
} from '../../../src/controller/runner-pool/index.ts';
import { defaultedPool, settings } from './fixtures.ts';

function pod(name: string, hash: string, ready: boolean): V1Pod {
  return {
    metadata: { name, labels: { [TEMPLATE_HASH_LABEL]: hash } },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata!.name!);

describe('templateHashOf', () => {
  it('is the same for every pod of a pool and changes with the image, template or runner options', () => {
    const pool = defaultedPool({ replicas: 2 });
    const hash = templateHashOf(pool, settings);
    expect(buildRunnerPod(pool, settings).metadata!.labels![TEMPLATE_HASH_LABEL]).toBe(hash);
    expect(templateHashOf(defaultedPool({ replicas: 5 }), settings)).toBe(hash);
    expect(templateHashOf(defaultedPool({ template: { image: 'other:1' } }), settings)).not.toBe(hash);
    expect(templateHashOf(pool, { ...settings, image: 'runner:2' })).not.toBe(hash);
    expect(templateHashOf(defaultedPool({ template: { nodeSelector: { zone: 'a' } } }), settings)).not.toBe(
      hash,
    );
    expect(
      templateHashOf(
        { ...pool, spec: { ...pool.spec, isolate: { ...pool.spec.isolate, defaultHeapMb: 32 } } },
        settings,
      ),
    ).not.toBe(hash);
  });
});

describe('pickOutdated', () => {
  const ctx = { hash: 'new', desired: 3, readyRunners: 3, settling: false };

  it('replaces every outdated pod whose runner is not ready, and no current one', () => {
    const live = [pod('a', 'old', false), pod('b', 'old', false), pod('c', 'new', false)];
    expect(names(pickOutdated(live, ctx))).toEqual(['a', 'b']);
  });

  it('replaces one idle ready pod at a time, only while every wanted runner is ready', () => {
    const live = [pod('a', 'old', true), pod('b', 'old', true), pod('c', 'old', true)];
    const idle = (n: string) => n !== 'a';
    expect(names(pickOutdated(live, { ...ctx, idle }))).toEqual(['b']);
    expect(pickOutdated(live, { ...ctx, idle, readyRunners: 2 })).toEqual([]);
    expect(pickOutdated(live, { ...ctx, idle, settling: true })).toEqual([]);
  });

  it('leaves busy ready pods, and every ready pod when idleness is unknown', () => {
    const live = [pod('a', 'old', true), pod('b', 'old', true)];
    expect(pickOutdated(live, { ...ctx, desired: 2, idle: () => false })).toEqual([]);
    expect(pickOutdated(live, { ...ctx, desired: 2 })).toEqual([]);
  });
});
