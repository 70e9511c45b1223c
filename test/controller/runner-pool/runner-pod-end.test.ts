// How a runner pod ended, read from pod status objects as a kubelet reports them, and what it makes
// of a lost execution: OOMKilled → OutOfMemory naming the pod's limit; any other end RunnerLost.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FailureReason, endedOutcome, failureError, type ExecutionOutcome } from '../../../src/core/index.ts';
import {
  RunnerPodEnds,
  describeRunnerPodEnd,
  explainLostOutcome,
  runnerPodEnd,
  runnerPodEndKind,
} from '../../../src/controller/runner-pool/index.ts';
import type { ResourceEventHandler } from '../../../src/controller/runtime/informer.ts';

const NS = 'mcp';

function pod(name: string, status: V1Pod['status'], deleting = false): V1Pod {
  return {
    metadata: { name, namespace: NS, ...(deleting && { deletionTimestamp: new Date() }) },
    spec: {
      containers: [
        { name: 'runner', resources: { limits: { memory: '320Mi' }, requests: { memory: '320Mi' } } },
      ],
    },
    status,
  };
}

const running = (name: string) =>
  pod(name, {
    phase: 'Running',
    containerStatuses: [
      { name: 'runner', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
    ],
  });

const terminated = (name: string, reason: string, exitCode: number) =>
  pod(name, {
    phase: 'Failed',
    containerStatuses: [
      {
        name: 'runner',
        image: 'i',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { terminated: { exitCode, reason } },
      },
    ],
  });

const evicted = (name: string) =>
  pod(name, {
    phase: 'Failed',
    reason: 'Evicted',
    message: 'Pod ephemeral local storage usage exceeds the total limit of containers 128Mi.',
  });

const lost: ExecutionOutcome = endedOutcome(
  'failed',
  failureError(FailureReason.RunnerLost, 'the runner default-abcde is gone'),
  64,
  1200,
);

describe('runnerPodEnd', () => {
  it('reads the runner container’s termination: reason, exit code and the memory limit of its spec', () => {
    expect(runnerPodEnd(terminated('p1', 'OOMKilled', 137))).toEqual({
      pod: 'p1',
      reason: 'OOMKilled',
      exitCode: 137,
      memoryLimit: '320Mi',
    });
    expect(runnerPodEnd(terminated('p2', 'Error', 1))).toMatchObject({ reason: 'Error', exitCode: 1 });
  });

  it('falls back to the pod’s reason when no container ended (an eviction)', () => {
    expect(runnerPodEnd(evicted('p3'))).toMatchObject({
      reason: 'Evicted',
      message: expect.stringContaining('ephemeral local storage') as string,
    });
  });

  it('says nothing while the runner runs or the pod is pending', () => {
    expect(runnerPodEnd(running('p4'))).toBeUndefined();
    expect(runnerPodEnd(pod('p5', { phase: 'Pending' }))).toBeUndefined();
    expect(runnerPodEnd(pod('p6', undefined))).toBeUndefined();
  });

  it('labels ends from a fixed set for metrics', () => {
    expect(runnerPodEndKind(runnerPodEnd(terminated('a', 'OOMKilled', 137))!)).toBe('OOMKilled');
    expect(runnerPodEndKind(runnerPodEnd(evicted('b'))!)).toBe('Evicted');
    expect(runnerPodEndKind(runnerPodEnd(terminated('c', 'ContainerCannotRun', 128))!)).toBe('Other');
  });
});

describe('explainLostOutcome', () => {
  it('turns RunnerLost into OutOfMemory naming the pod limit when the pod was OOMKilled', () => {
    const out = explainLostOutcome(lost, runnerPodEnd(terminated('default-abcde', 'OOMKilled', 137)));
    expect(out.status).toBe('failed');
    expect(out.error).toEqual({
      reason: 'OutOfMemory',
      name: 'Error',
      message: 'the runner pod default-abcde was killed for exceeding its memory limit of 320Mi',
    });
    expect(out.durationMs).toBe(lost.durationMs);
  });

  it('keeps RunnerLost for any other end, saying how the pod ended', () => {
    const out = explainLostOutcome(lost, runnerPodEnd(terminated('default-abcde', 'Error', 143)));
    expect(out.error?.reason).toBe('RunnerLost');
    expect(out.error?.message).toBe(
      'the runner default-abcde is gone; the runner pod default-abcde ended (Error, exit code 143)',
    );
    expect(explainLostOutcome(lost, undefined)).toBe(lost);
  });

  it('leaves every other outcome alone', () => {
    const oom = runnerPodEnd(terminated('x', 'OOMKilled', 137));
    const timedOut = endedOutcome('timed_out', failureError(FailureReason.Timeout, 't'), 64, 1);
    const failed = endedOutcome('failed', failureError(FailureReason.Error, 'boom'), 64, 1);
    expect(explainLostOutcome(timedOut, oom)).toBe(timedOut);
    expect(explainLostOutcome(failed, oom)).toBe(failed);
  });

  it('describes an OOM kill without a known limit', () => {
    expect(describeRunnerPodEnd({ pod: 'p', reason: 'OOMKilled', exitCode: 137 })).toBe(
      'the runner pod p was killed for exceeding its memory limit of unknown size',
    );
  });
});

describe('RunnerPodEnds', () => {
  function cache() {
    const pods = new Map<string, V1Pod>();
    const handlers: ResourceEventHandler<V1Pod>[] = [];
    return {
      pods: {
        get: (key: string) => pods.get(key),
        addEventHandler: (h: ResourceEventHandler<V1Pod>) => handlers.push(h),
      },
      set(p: V1Pod) {
        const key = `${NS}/${p.metadata!.name!}`;
        const had = pods.has(key);
        pods.set(key, p);
        for (const h of handlers) {
          if (had) h.onUpdate?.(p);
          else h.onAdd?.(p);
        }
      },
      remove(p: V1Pod) {
        pods.delete(`${NS}/${p.metadata!.name!}`);
        for (const h of handlers) h.onDelete?.(p);
      },
    };
  }

  it('answers at once from a status that shows the end, and remembers it once the pod is deleted', async () => {
    const c = cache();
    const ends = new RunnerPodEnds({ pods: c.pods, namespace: NS });
    const dead = terminated('p1', 'OOMKilled', 137);
    c.set(dead);
    expect(await ends.endOf('p1')).toMatchObject({ reason: 'OOMKilled' });
    c.remove(dead);
    expect(await ends.endOf('p1')).toMatchObject({ reason: 'OOMKilled', memoryLimit: '320Mi' });
  });

  it('waits for the status of a pod that still looks alive (the kubelet reports after the runner went silent)', async () => {
    const c = cache();
    const ends = new RunnerPodEnds({ pods: c.pods, namespace: NS });
    c.set(running('p2'));
    const asked = ends.endOf('p2');
    c.set(terminated('p2', 'OOMKilled', 137));
    expect(await asked).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
  });

  it('does not wait for a pod being deleted or unknown, and gives up on a live one after the grace period', async () => {
    const c = cache();
    const ends = new RunnerPodEnds({ pods: c.pods, namespace: NS, graceMs: 0 });
    c.set(pod('p3', { phase: 'Running' }, true));
    expect(await ends.endOf('p3')).toBeUndefined();
    expect(await ends.endOf('nobody')).toBeUndefined();
    c.set(running('p4'));
    expect(await ends.endOf('p4')).toBeUndefined();
  });

  it('ends the wait when the pod is deleted without a status, or the caller aborts', async () => {
    const c = cache();
    const ends = new RunnerPodEnds({ pods: c.pods, namespace: NS });
    const alive = running('p5');
    c.set(alive);
    const asked = ends.endOf('p5');
    c.remove(alive);
    expect(await asked).toBeUndefined();
    c.set(running('p6'));
    const abort = new AbortController();
    const waiting = ends.endOf('p6', abort.signal);
    abort.abort();
    expect(await waiting).toBeUndefined();
  });

  it('remembers a bounded number of ends, dropping the oldest', async () => {
    const c = cache();
    const ends = new RunnerPodEnds({ pods: c.pods, namespace: NS, maxRemembered: 2 });
    for (const name of ['a', 'b', 'c']) {
      const p = terminated(name, 'OOMKilled', 137);
      c.set(p);
      c.remove(p);
    }
    expect(await ends.endOf('a')).toBeUndefined();
    expect(await ends.endOf('b')).toBeDefined();
    expect(await ends.endOf('c')).toBeDefined();
  });
});
