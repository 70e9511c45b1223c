// The Execution reconciler's assignment: what it records on the Execution before a run is sent.
// The store keeps Execution objects with the cluster store's own mapping (execution-resource.ts),
// without an API server; the dispatcher stands in for the NATS pool, assigning the run to the
// pods a test names in turn (a pod that refused it hands it to the next).
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Execution } from '../../../src/api/v1alpha1/index.ts';
import { manifestOf, patchRecord, recordOf, statusOf } from '../../../src/cluster/execution-resource.ts';
import type { RunHooks } from '../../../src/cluster/nats-runner-pool.ts';
import {
  ExecutionReconciler,
  type Dispatcher,
  type ExecutionObserver,
} from '../../../src/controller/execution/execution-reconciler.ts';
import type { ExecutionRecord, ExecutionStore } from '../../../src/core/index.ts';
import { defaultedPool } from '../runner-pool/fixtures.ts';

const POOL_NS = 'mcp';

/** Execution objects by `<namespace>/<name>`, written as the cluster store writes them. */
class ObjectStore implements Pick<ExecutionStore, 'transition'> {
  readonly objects = new Map<string, Execution>();
  /** Each write waits for this first (a slow API server). */
  gate: Promise<void> = Promise.resolve();

  add(record: ExecutionRecord): string {
    const { metadata, spec } = manifestOf(record);
    const key = `${record.namespace}/${record.id}`;
    this.objects.set(key, {
      metadata,
      // The API server's default.
      spec: { runnerPool: 'default', ...spec } as Execution['spec'],
      status: statusOf(record, undefined, 1, 'T0'),
    });
    return key;
  }

  async transition(
    namespace: string,
    id: string,
    from: readonly ExecutionRecord['status'][],
    patch: Parameters<ExecutionStore['transition']>[3],
  ): Promise<ExecutionRecord | undefined> {
    await this.gate;
    const key = `${namespace}/${id}`;
    const current = this.objects.get(key);
    if (!current || !from.includes(recordOf(current).status)) return undefined;
    const next = patchRecord(recordOf(current), patch);
    this.objects.set(key, { ...current, status: statusOf(next, current.status, 1, 'T1') });
    return next;
  }
}

function pod(name: string, nodeName?: string): V1Pod {
  return { metadata: { name, namespace: POOL_NS }, spec: { containers: [], ...(nodeName && { nodeName }) } };
}

/**
 * A reconciler whose dispatcher assigns each run to `assignTo` in turn (as the NATS pool does when
 * a pod refuses it), noting the Execution's `status.runner` as it is when each run would be sent,
 * or false when the reconciler said not to send it (the run ends there).
 */
function setup(assignTo: string[], pods: V1Pod[]) {
  const store = new ObjectStore();
  const atSend: unknown[] = [];
  const finished = Promise.withResolvers<void>();
  const dispatched = Promise.withResolvers<void>();
  const dispatcher: Dispatcher = {
    async run(req, _onOutput, _signal, hooks: RunHooks = {}) {
      for (const runner of assignTo) {
        const send = await hooks.assigned?.(runner);
        atSend.push(send && store.objects.get(req.executionId)?.status?.runner);
        if (!send) break;
      }
      dispatched.resolve();
      return {
        status: 'completed',
        result: '1',
        effectiveHeapMb: req.heapMb,
        durationMs: 1,
        outputBytes: 0,
        outputTruncated: false,
      };
    },
    adopt: () => Promise.reject(new Error('nothing is adopted here')),
  };
  const observer: ExecutionObserver = {
    assigned: () => {},
    finished: () => finished.resolve(),
    poolMissing: () => {},
    expired: () => {},
  };
  const reconciler = new ExecutionReconciler({
    executions: { get: (key) => store.objects.get(key) },
    runnerPools: { get: (key) => (key === `${POOL_NS}/default` ? defaultedPool() : undefined) },
    poolNamespace: POOL_NS,
    runnerPods: { get: (key) => pods.find((p) => `${POOL_NS}/${p.metadata!.name}` === key) },
    store,
    deleteExecution: async () => {},
    pools: { get: () => dispatcher },
    observer,
  });
  const key = store.add({
    id: 'e1',
    status: 'queued',
    code: '1',
    language: 'javascript',
    limits: { heapMemoryMaxMb: 8, timeoutSeconds: 10 },
    namespace: 'tenant-a',
    createdAt: '2026-01-01T00:00:00.000Z',
  });
  return { store, reconciler, key, atSend, finished: finished.promise, dispatched: dispatched.promise };
}

describe('ExecutionReconciler assignment', () => {
  it('records the runner pod and the node it is bound to before the run is sent', async () => {
    const { store, reconciler, key, atSend, finished } = setup(['default-a1'], [pod('default-a1', 'node-1')]);
    await reconciler.reconcile(key);
    await finished;
    expect(atSend).toEqual([{ pod: 'default-a1', node: 'node-1' }]);
    const done = store.objects.get(key)!;
    expect(done.status).toMatchObject({ phase: 'Succeeded', runner: { pod: 'default-a1', node: 'node-1' } });
  });

  it('moves pod and node together when a pod refused the run and another took it', async () => {
    const pods = [pod('default-a1', 'node-1'), pod('default-b2', 'node-2')];
    const { store, reconciler, key, atSend, finished } = setup(
      ['default-a1', 'default-b2', 'default-c3'],
      pods,
    );
    await reconciler.reconcile(key);
    await finished;
    expect(atSend).toEqual([
      { pod: 'default-a1', node: 'node-1' },
      { pod: 'default-b2', node: 'node-2' },
      // Not in the pod cache: the node of the pod before must not stay.
      { pod: 'default-c3' },
    ]);
    expect(store.objects.get(key)!.status?.runner).toEqual({ pod: 'default-c3' });
  });

  it('sends nothing once leadership ended: an assignment recorded meanwhile is left for the next leader', async () => {
    const { store, reconciler, key, atSend, dispatched } = setup(
      ['default-a1'],
      [pod('default-a1', 'node-1')],
    );
    const leading = new AbortController();
    const stopped = reconciler.start(leading.signal);
    const write = Promise.withResolvers<void>();
    store.gate = write.promise;
    await reconciler.reconcile(key);
    // The assignment is being written when leadership ends.
    leading.abort();
    await stopped;
    write.resolve();
    await dispatched;
    expect(atSend).toEqual([false]);
    // Recorded, never sent: the next leader adopts it on that pod, which says it never got it.
    expect(store.objects.get(key)!.status).toMatchObject({ phase: 'Running', runner: { pod: 'default-a1' } });
    // A stopped reconciler starts nothing more.
    await reconciler.reconcile(key);
    expect(atSend).toEqual([false]);
  });
});
