// RunnerPoolReconciler against fake caches and a fake API: the pod count converges to replicas
// without over-creating while the cache lags, pods that exited or retired are replaced, scale-down
// removes the least useful pods, and the status is written only when it changes.
import type { EventsV1Event, V1Pod } from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { RunnerPool, RunnerPoolStatus } from '../../../src/api/v1alpha1/index.ts';
import { EventRecorder } from '../../../src/controller/events/event-recorder.ts';
import {
  Expectations,
  RUNNER_POOL_LABEL,
  RunnerPoolReconciler,
  pickVictims,
  poolKeyOfPod,
  type RunnerPoolApi,
} from '../../../src/controller/runner-pool/index.ts';
import type { ResourceEventHandler } from '../../../src/controller/runtime/informer.ts';
import { TerminalError } from '../../../src/controller/runtime/reconciler.ts';
import { defaultedPool, settings } from './fixtures.ts';
import { endedRunnerStatus } from '../../harness/pod-status.ts';
import { RUNTIME_OVERHEAD_MIB } from '../../../src/api/v1alpha1/index.ts';

const KEY = 'mcp/default';
const signal = new AbortController().signal;

class ApiError extends Error {
  readonly code: number;

  constructor(code: number) {
    super(`HTTP ${code}`);
    this.code = code;
  }
}

function harness(spec: Partial<RunnerPool['spec']> = {}, opts: { ttlMs?: number; now?: () => number } = {}) {
  const pods = new Map<string, V1Pod>();
  const handlers: ResourceEventHandler<V1Pod>[] = [];
  let pool: RunnerPool | undefined = defaultedPool(spec);
  const created: V1Pod[] = [];
  const deleted: string[] = [];
  const patches: RunnerPoolStatus[] = [];
  const events: EventsV1Event[] = [];
  const retired = new Set<string>();
  const ended: string[] = [];
  let ready = 0;
  let members: string[] | undefined;
  let failCreate: number | undefined;
  let failPatch: number | undefined;
  const api: RunnerPoolApi = {
    createPod: (pod) => {
      if (failCreate !== undefined) return Promise.reject(new ApiError(failCreate));
      created.push(pod);
      return Promise.resolve();
    },
    deletePod: (_ns, name) => {
      deleted.push(name);
      return Promise.resolve(true);
    },
    patchStatus: (_ns, _name, _rv, status) => {
      if (failPatch !== undefined) return Promise.reject(new ApiError(failPatch));
      patches.push(status);
      if (pool) pool = { ...pool, status };
      return Promise.resolve();
    },
  };
  const recorder = new EventRecorder({
    instance: 'ctrl-0',
    sink: { create: (_ns, e) => (events.push(e), Promise.resolve()) },
  });
  const reconciler = new RunnerPoolReconciler({
    kubeConfig: new KubeConfig(),
    pods: {
      list: (ns) => [...pods.values()].filter((p) => !ns || p.metadata!.namespace === ns),
      addEventHandler: (h) => handlers.push(h),
    },
    pools: { get: (key) => (key === KEY ? pool : undefined) },
    settings,
    hooks: {
      readyRunners: (key) => (key === KEY ? ready : 0),
      retiredFor: (name) => (retired.has(name) ? 'used-up' : undefined),
      onMembers: (key, names) => {
        if (key === KEY) members = [...names].sort();
      },
    },
    events: recorder,
    expectations: new Expectations(opts),
    api,
    metrics: { podEnded: (kind) => ended.push(kind) },
    ...(opts.now && { now: opts.now }),
  });
  /** The informer catches up: created pods appear, deleted ones disappear. */
  const sync = () => {
    for (const pod of created.splice(0)) {
      pods.set(pod.metadata!.name!, pod);
      for (const h of handlers) h.onAdd?.(pod);
    }
    for (const name of deleted.splice(0)) {
      const pod = pods.get(name);
      if (!pod) continue;
      pods.delete(name);
      for (const h of handlers) h.onDelete?.(pod);
    }
  };
  return {
    reconciler,
    pods,
    created,
    deleted,
    patches,
    events,
    retired,
    ended,
    recorder,
    sync,
    reconcile: () => reconciler.reconcile(KEY, signal),
    setReady: (n: number) => (ready = n),
    setPool: (p: RunnerPool | undefined) => (pool = p),
    pool: () => pool,
    members: () => members,
    failCreate: (code: number | undefined) => (failCreate = code),
    failPatch: (code: number | undefined) => (failPatch = code),
    update: (name: string, change: (pod: V1Pod) => void) => change(pods.get(name)!),
  };
}

describe('RunnerPoolReconciler', () => {
  it('creates replicas pods once, however often it runs before the cache catches up', async () => {
    const h = harness({ replicas: 3 });
    await h.reconcile();
    expect(h.created).toHaveLength(3);
    await h.reconcile();
    await h.reconcile();
    expect(h.created).toHaveLength(3);
    h.sync();
    await h.reconcile();
    expect(h.created).toHaveLength(0);
    expect(h.pods.size).toBe(3);
    expect(h.members()).toEqual([...h.pods.keys()].sort());
    // Folded: one event at once, the repeats as one summary with their count.
    await h.recorder.flush();
    expect(h.events.filter((e) => e.reason === 'PodCreated')).toHaveLength(1);
    await h.recorder.close();
    expect(h.events.filter((e) => e.reason === 'PodCreated').at(-1)?.series?.count).toBe(3);
  });

  it('creates again once an expectation expires (a lost watch event)', async () => {
    let now = 0;
    const h = harness({ replicas: 1 }, { ttlMs: 1000, now: () => now });
    const first = await h.reconcile();
    expect(h.created).toHaveLength(1);
    expect(first).toEqual({ requeueAfterMs: 1001 });
    h.created.length = 0; // the pod never shows up
    now = 1000;
    await h.reconcile();
    expect(h.created).toHaveLength(1);
  });

  it('replaces a pod that exited or retired, and ignores pods being deleted', async () => {
    const h = harness({ replicas: 3 });
    await h.reconcile();
    h.sync();
    const [a, b, c] = [...h.pods.keys()];
    h.update(a!, (p) => (p.status = { phase: 'Failed' }));
    h.retired.add(b!);
    h.update(c!, (p) => (p.metadata!.deletionTimestamp = new Date()));
    await h.reconcile();
    expect(h.deleted.sort()).toEqual([a, b].sort());
    expect(h.created).toHaveLength(3);
    expect(h.members()).toEqual([]);
    await h.recorder.flush();
    expect(h.events.map((e) => e.reason).sort()).toEqual(
      expect.arrayContaining(['PodFinished', 'PodRetired', 'PodCreated']),
    );
  });

  it('replaces a pod whose runner was OOMKilled with a warning naming its limit, and counts it', async () => {
    const h = harness({ replicas: 2 });
    await h.reconcile();
    h.sync();
    const [oom, crashed] = [...h.pods.keys()];
    const terminated = (reason: string, exitCode: number) =>
      endedRunnerStatus(settings.image, reason, exitCode);
    h.update(oom!, (p) => (p.status = terminated('OOMKilled', 137)));
    h.update(crashed!, (p) => (p.status = terminated('Error', 1)));
    await h.reconcile();
    expect(h.deleted.sort()).toEqual([oom, crashed].sort());
    expect(h.created).toHaveLength(2);
    expect(h.ended.sort()).toEqual(['Error', 'OOMKilled']);
    await h.recorder.flush();
    const limit = h.pods.get(oom!)!.spec!.containers[0]!.resources!.limits!.memory;
    expect(h.events.find((e) => e.reason === 'PodOOMKilled')).toMatchObject({
      type: 'Warning',
      note: `the runner pod ${oom} was killed for exceeding its memory limit of ${limit}`,
    });
    expect(h.events.find((e) => e.reason === 'PodFinished')?.note).toBe(
      `pod ${crashed} exited (Failed: Error)`,
    );
    // Counted once: the next reconcile sees the pods as being deleted.
    await h.reconcile();
    expect(h.ended).toHaveLength(2);
  });

  it('refuses to create pods for a template below the floors: Ready False with the reason, a warning', async () => {
    const h = harness({
      replicas: 2,
      template: { resources: { limits: { memory: '100Mi' } } },
    });
    expect(await h.reconcile()).toBeUndefined();
    expect(h.created).toHaveLength(0);
    expect(h.patches.at(-1)).toMatchObject({
      replicas: 0,
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'MemoryLimitBelowFloor',
          message: expect.stringContaining(
            `100Mi is below the ${64 + RUNTIME_OVERHEAD_MIB}Mi the runner needs`,
          ) as string,
        },
      ],
    });
    await h.recorder.flush();
    expect(h.events.find((e) => e.reason === 'MemoryLimitBelowFloor')).toMatchObject({
      type: 'Warning',
      note: expect.stringContaining('no runner pods are created') as string,
    });
    // Fixed spec: pods come.
    h.setPool({ ...h.pool()!, spec: { ...h.pool()!.spec, template: {} } });
    await h.reconcile();
    expect(h.created).toHaveLength(2);
  });

  it('keeps the pods a pool already has when its template turns invalid, and replaces none', async () => {
    const h = harness({ replicas: 2 });
    await h.reconcile();
    h.sync();
    const [a, b] = [...h.pods.keys()];
    h.setPool({
      ...h.pool()!,
      spec: { ...h.pool()!.spec, template: { resources: { limits: { 'ephemeral-storage': '10Mi' } } } },
    });
    h.update(a!, (p) => (p.status = { phase: 'Failed' }));
    await h.reconcile();
    expect(h.deleted).toEqual([a]);
    expect(h.created).toHaveLength(0);
    expect(h.members()).toEqual([b]);
    expect(h.patches.at(-1)?.conditions?.[0]?.reason).toBe('EphemeralStorageBelowFloor');
  });

  it('scales down by deleting the surplus, unscheduled and not-ready pods first, and only once', async () => {
    const h = harness({ replicas: 3 });
    await h.reconcile();
    h.sync();
    const [ready, notReady, unscheduled] = [...h.pods.keys()];
    h.update(ready!, (p) => {
      p.spec!.nodeName = 'n1';
      p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    });
    h.update(notReady!, (p) => {
      p.spec!.nodeName = 'n1';
      p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] };
    });
    h.setPool({ ...h.pool()!, spec: { ...h.pool()!.spec, replicas: 1 } });
    await h.reconcile();
    expect(h.deleted.sort()).toEqual([notReady, unscheduled].sort());
    expect(h.members()).toEqual([ready]);
    const before = h.deleted.length;
    await h.reconcile(); // the cache still shows them: no more deletes, no creates
    expect(h.deleted).toHaveLength(before);
    expect(h.created).toHaveLength(0);
    h.sync();
    await h.reconcile();
    expect(h.deleted).toHaveLength(0);
    expect(h.pods.size).toBe(1);
  });

  it('backs off creating pods that keep ending before their runner is ready, and resets once one is', async () => {
    let now = 1_000_000;
    const h = harness({ replicas: 1 }, { now: () => now });
    /** The pool's one pod exits 1 at start (NATS unreachable); returns the reconcile's result. */
    const crash = async () => {
      h.sync();
      const [name] = [...h.pods.keys()];
      h.update(name!, (p) => (p.status = endedRunnerStatus(settings.image, 'Error', 1)));
      const result = await h.reconcile();
      h.sync();
      return result;
    };
    await h.reconcile();
    // A single crash is replaced at once.
    await crash();
    expect(h.pods.size).toBe(1);
    // The second waits 1 s, the third 2 s: no pod until then, and the result says when to look.
    expect(await crash()).toEqual({ requeueAfterMs: 1000 });
    expect(h.pods.size).toBe(0);
    expect(h.patches.at(-1)?.conditions?.[0]).toMatchObject({
      status: 'False',
      reason: 'PodsFailingToStart',
      message: `0 of 1 runners ready; 2 pods ended before their runner became ready, next pod at ${new Date(now + 1000).toISOString().replace('.000', '')}`,
    });
    now += 999;
    await h.reconcile();
    expect(h.created).toHaveLength(0);
    now += 1;
    await h.reconcile();
    expect(h.created).toHaveLength(1);
    expect(await crash()).toEqual({ requeueAfterMs: 2000 });
    await h.recorder.flush();
    expect(h.events.filter((e) => e.reason === 'PodsFailingToStart')[0]).toMatchObject({
      type: 'Warning',
      note: expect.stringContaining('2 pods ended before their runner became ready') as string,
    });
    // A runner announces itself: the next end is replaced at once again.
    now += 2000;
    await h.reconcile();
    h.sync();
    h.setReady(1);
    await h.reconcile();
    h.setReady(0);
    await crash();
    expect(h.pods.size).toBe(1);
    expect(h.patches.at(-1)?.conditions?.[0]?.reason).toBe('PodsFailingToStart');
  });

  it('replaces outdated pods after a template change, once', async () => {
    const h = harness({ replicas: 2 });
    await h.reconcile();
    h.sync();
    const before = [...h.pods.keys()];
    h.setPool({ ...h.pool()!, spec: { ...h.pool()!.spec, template: { image: 'runner:2' } } });
    await h.reconcile();
    expect(h.deleted.sort()).toEqual([...before].sort());
    expect(h.created.map((p) => p.spec!.containers[0]!.image)).toEqual(['runner:2', 'runner:2']);
    h.sync();
    await h.recorder.flush();
    expect(h.events.some((e) => e.reason === 'PodOutdated')).toBe(true);
    await h.reconcile();
    expect(h.deleted).toHaveLength(0);
  });

  it('lowers the expectation when a create fails, records a warning and throws for a retry', async () => {
    const h = harness({ replicas: 2 });
    h.failCreate(403);
    await expect(h.reconcile()).rejects.toMatchObject({ code: 403 });
    await h.recorder.flush();
    expect(
      h.events.filter((e) => e.reason === 'PodCreateFailed' && e.type === 'Warning').length,
    ).toBeGreaterThan(0);
    h.failCreate(undefined);
    await h.reconcile();
    expect(h.created).toHaveLength(2);
  });

  it('writes status (replicas, readyReplicas from the hook, selector, Ready) only when it changed', async () => {
    const h = harness({ replicas: 2 });
    await h.reconcile();
    h.sync();
    const result = await h.reconcile();
    expect(result).toEqual({ requeueAfterMs: 5000 });
    expect(h.patches.at(-1)).toMatchObject({
      replicas: 2,
      readyReplicas: 0,
      selector: `${RUNNER_POOL_LABEL}=default`,
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'False' }],
    });
    const writes = h.patches.length;
    await h.reconcile();
    expect(h.patches).toHaveLength(writes);
    h.setReady(5);
    expect(await h.reconcile()).toBeUndefined();
    expect(h.patches.at(-1)).toMatchObject({
      readyReplicas: 2,
      conditions: [{ status: 'True', reason: 'RunnersReady' }],
    });
  });

  it('rethrows a 409 from the status write', async () => {
    const h = harness({ replicas: 0 });
    h.failPatch(409);
    await expect(h.reconcile()).rejects.toMatchObject({ code: 409 });
  });

  it('leaves pods of another owner alone and forgets a deleted pool', async () => {
    const h = harness({ replicas: 1 });
    const stranger: V1Pod = {
      metadata: {
        name: 'default-old00',
        namespace: 'mcp',
        labels: { [RUNNER_POOL_LABEL]: 'default' },
        ownerReferences: [
          {
            apiVersion: 'mcpv8.dev/v1alpha1',
            kind: 'RunnerPool',
            name: 'default',
            uid: 'old',
            controller: true,
          },
        ],
      },
      spec: { containers: [] },
    };
    h.pods.set('default-old00', stranger);
    await h.reconcile();
    expect(h.created).toHaveLength(1);
    expect(h.deleted).toEqual([]);
    h.setPool(undefined);
    await h.reconcile();
    expect(h.members()).toEqual([]);
  });

  it('refuses a pool name too long to label its pods, for good', async () => {
    const long = defaultedPool({}, 'p'.repeat(64));
    const patches: RunnerPoolStatus[] = [];
    const reconciler = new RunnerPoolReconciler({
      kubeConfig: new KubeConfig(),
      pods: { list: () => [], addEventHandler: () => undefined },
      pools: { get: () => long },
      settings,
      hooks: { readyRunners: () => 0, retiredFor: () => undefined, onMembers: () => undefined },
      api: {
        createPod: () => Promise.reject(new Error('must not create')),
        deletePod: () => Promise.resolve(true),
        patchStatus: (_ns, _name, _rv, status) => {
          patches.push(status);
          return Promise.resolve();
        },
      },
    });
    await expect(reconciler.reconcile(`mcp/${'p'.repeat(64)}`, signal)).rejects.toBeInstanceOf(TerminalError);
    expect(patches.at(-1)?.conditions?.[0]).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });
});

describe('helpers', () => {
  it('poolKeyOfPod maps a runner pod to its pool key', () => {
    expect(
      poolKeyOfPod({ metadata: { namespace: 'mcp', name: 'x', labels: { [RUNNER_POOL_LABEL]: 'gpu' } } }),
    ).toBe('mcp/gpu');
    expect(poolKeyOfPod({ metadata: { namespace: 'mcp', name: 'x' } })).toBeUndefined();
  });

  it('pickVictims prefers the youngest within a rank', () => {
    const pod = (name: string, created: string): V1Pod => ({
      metadata: { name, namespace: 'mcp', creationTimestamp: new Date(created) },
      spec: { containers: [] },
    });
    const victims = pickVictims([pod('old', '2026-01-01T00:00:00Z'), pod('new', '2026-01-02T00:00:00Z')], 1);
    expect(victims.map((p) => p.metadata!.name)).toEqual(['new']);
  });
});
