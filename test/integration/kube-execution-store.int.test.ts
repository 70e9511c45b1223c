// KubeExecutionStore on a real kube-apiserver with the checked-in CRDs: the ExecutionStore
// contract (each test in fresh namespaces), plus what only a cluster has: writers racing on the
// status subresource, the fields kubectl shows, the CRD's bound on results, and the phase labels
// the store keeps next to status.
import { CoreV1Api, KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { crdPath } from '../../scripts/generate-crds.ts';
import {
  API_VERSION,
  CRDS,
  EXECUTION_CODE_MAX_CHARS,
  EXECUTION_RESULT_MAX_CHARS,
  type Execution,
} from '../../src/api/v1alpha1/index.ts';
import type { ExecutionOutcome } from '../../src/core/api/execution.ts';
import type { ExecutionRecord } from '../../src/core/execution-store.ts';
import { LABEL_COMPLETED_MS, LABEL_PHASE, storedOutcome } from '../../src/cluster/execution-resource.ts';
import { KubeExecutionStore } from '../../src/cluster/kube-execution-store.ts';
import { CONTRACT_NAMESPACES, executionStoreContract } from '../contract/execution-store.contract.ts';
import { kubeApi, type KubeRequestOptions } from '../harness/kube-api.ts';

const kube = inject('services').kube!;
const root = fileURLToPath(new URL('../../', import.meta.url));
const run = randomBytes(3).toString('hex');
const FIELD_MANAGER = 'mcpv8-crds-test';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';
const created: string[] = [];
let kc: KubeConfig;
let core: CoreV1Api;
let n = 0;

/** One raw API request as the admin user (see test/harness/kube-api.ts). */
const api = <T = Record<string, unknown>>(method: string, path: string, opts: KubeRequestOptions = {}) =>
  kubeApi<T>(kube, method, path, opts);

const executionPath = (ns: string, name: string) =>
  `/apis/${API_VERSION}/namespaces/${ns}/executions/${name}`;

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function newNamespace(name: string): Promise<string> {
  await core.createNamespace({ body: { metadata: { name } } });
  created.push(name);
  return name;
}

/** `config`, loaded with the test cluster's admin credentials. */
function asAdmin<T extends KubeConfig>(config: T): T {
  config.loadFromOptions({
    clusters: [{ name: 'it', server: kube.server, caData: Buffer.from(kube.caPem).toString('base64') }],
    users: [{ name: 'admin', token: kube.adminToken }],
    contexts: [{ name: 'it', cluster: 'it', user: 'admin' }],
    currentContext: 'it',
  });
  return config;
}

/** A KubeConfig whose next status writes wait until a given number of them are pending. */
class GatedKubeConfig extends KubeConfig {
  #gate: (() => Promise<void>) | undefined;

  holdStatusWrites(count: number): void {
    let arrived = 0;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.#gate = async () => {
      arrived += 1;
      if (arrived >= count) {
        this.#gate = undefined;
        open();
      }
      await opened;
    };
  }

  // Runs for every request, before it is sent.
  override async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(ctx);
    const gate = this.#gate;
    if (gate && ctx.getHttpMethod() === 'PATCH' && new URL(ctx.getUrl()).pathname.endsWith('/status')) {
      await gate();
    }
  }
}

beforeAll(async () => {
  kc = asAdmin(new KubeConfig());
  core = kc.makeApiClient(CoreV1Api);
  // The checked-in YAML byte for byte, by server-side apply: creates the CRDs or finds them
  // installed by another suite (same field manager, so no conflict either way).
  for (const crd of CRDS) {
    const res = await api(
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=${FIELD_MANAGER}&force=true`,
      { body: readFileSync(join(root, crdPath(crd)), 'utf8'), contentType: 'application/apply-patch+yaml' },
    );
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
  const probe = await newNamespace(`es-${run}-probe`);
  // Established can precede the first successful request by a moment.
  await waitFor(
    'executions served',
    async () => (await api('GET', `/apis/${API_VERSION}/namespaces/${probe}/executions`)).status === 200,
  );
});

afterAll(async () => {
  // The namespace controller deletes what they hold.
  await Promise.all(created.map((name) => core.deleteNamespace({ name }).catch(() => undefined)));
});

executionStoreContract(
  'KubeExecutionStore',
  async () => {
    const prefix = `es-${run}-${++n}`;
    const names = Object.fromEntries(CONTRACT_NAMESPACES.map((l) => [l, `${prefix}-${l}`]));
    await Promise.all(Object.values(names).map(newNamespace));
    // Scoped to this test's namespaces, so earlier tests' records stay out of the cluster-wide calls.
    const store = new KubeExecutionStore({ kubeConfig: kc, namespaces: Object.values(names) });
    return { store, namespace: (l) => names[l]! };
  },
  // An Execution keeps a bounded result, and code up to its CRD's bound.
  { storedOutcome, maxCodeChars: EXECUTION_CODE_MAX_CHARS },
);

describe('KubeExecutionStore on Execution objects', () => {
  let ns: string;
  let store: KubeExecutionStore;
  const record = (over: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
    id: randomUUID(),
    status: 'running',
    code: '6 * 7',
    language: 'javascript',
    limits: { heapMemoryMaxMb: 16, timeoutSeconds: 30 },
    namespace: ns,
    createdAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    ...over,
  });
  const completed = (result = '42'): ExecutionOutcome => ({
    status: 'completed',
    result,
    resultType: 'number',
    effectiveHeapMb: 16,
    durationMs: 5,
    outputBytes: 3,
    outputTruncated: false,
  });
  const raw = async (id: string) => (await api<Execution>('GET', executionPath(ns, id))).body;

  beforeAll(async () => {
    ns = await newNamespace(`es-${run}-extra`);
    store = new KubeExecutionStore({ kubeConfig: kc, namespaces: [ns] });
  });

  it('lets exactly one of two racing writers end an execution', async () => {
    // Both writers read before either writes: their status writes are held until both are sent.
    const gated = asAdmin(new GatedKubeConfig());
    const first = new KubeExecutionStore({ kubeConfig: gated, namespaces: [ns] });
    const second = new KubeExecutionStore({ kubeConfig: gated, namespaces: [ns] });
    for (let round = 0; round < 4; round++) {
      const r = record();
      await first.create(r);
      gated.holdStatusWrites(2);
      const [done, cancelled] = await Promise.all([
        first.transition(ns, r.id, ['running'], {
          status: 'completed',
          completedAt: new Date().toISOString(),
          outcome: completed(),
        }),
        second.transition(ns, r.id, ['queued', 'running'], {
          status: 'cancelled',
          completedAt: new Date().toISOString(),
        }),
      ]);
      // Exactly one wins; the loser's write got 409, it re-read, and the phase no longer matched.
      expect([done, cancelled].filter((x) => x !== undefined)).toHaveLength(1);
      const winner = (done ?? cancelled)!;
      expect(await store.get(ns, r.id)).toStrictEqual(winner);
      expect((await raw(r.id)).metadata?.labels?.[LABEL_PHASE]).toBe(
        winner.status === 'completed' ? 'Succeeded' : 'Cancelled',
      );
    }
  });

  it('shows phase, reason and times to kubectl once an execution ends', async () => {
    const ok = record();
    const oom = record();
    await store.create(ok);
    await store.create(oom);
    const end = '2026-01-01T00:00:02.345Z';
    await store.transition(ns, ok.id, ['running'], {
      status: 'completed',
      completedAt: end,
      outcome: completed(),
    });
    await store.transition(ns, oom.id, ['running'], {
      status: 'failed',
      completedAt: end,
      outcome: {
        status: 'failed',
        error: { reason: 'OutOfMemory', name: 'RangeError', message: 'the isolate ran out of memory' },
        effectiveHeapMb: 16,
        durationMs: 9,
        outputBytes: 0,
        outputTruncated: false,
      },
    });

    const succeeded = await raw(ok.id);
    expect(succeeded.status).toMatchObject({
      phase: 'Succeeded',
      startTime: ok.startedAt,
      completionTime: end,
      result: '42',
      resultType: 'number',
      output: { bytes: 3, truncated: false },
      observedGeneration: succeeded.metadata?.generation,
    });
    expect(succeeded.status?.conditions).toEqual([
      expect.objectContaining({ type: 'Succeeded', status: 'True', reason: 'Succeeded' }),
    ]);
    expect(succeeded.metadata?.labels).toMatchObject({
      [LABEL_PHASE]: 'Succeeded',
      [LABEL_COMPLETED_MS]: String(Date.parse(end)),
    });

    const failed = await raw(oom.id);
    expect(failed.status).toMatchObject({
      phase: 'Failed',
      error: { reason: 'OutOfMemory', message: 'the isolate ran out of memory' },
    });
    expect(failed.status?.conditions).toEqual([
      expect.objectContaining({
        type: 'Succeeded',
        status: 'False',
        reason: 'OutOfMemory',
        message: 'RangeError: the isolate ran out of memory',
      }),
    ]);

    // What `kubectl get exec` prints: Name, Phase, Reason, ...
    const table = await api<{ rows: { cells: unknown[] }[] }>(
      'GET',
      `/apis/${API_VERSION}/namespaces/${ns}/executions?fieldSelector=metadata.name=${oom.id}`,
      { accept: TABLE },
    );
    expect(table.body.rows[0]!.cells.slice(0, 3)).toEqual([oom.id, 'Failed', 'OutOfMemory']);
  });

  it('cuts a large result to the CRD bound and flags it', async () => {
    const r = record();
    await store.create(r);
    // A surrogate pair straddles the bound: the cut must not split it.
    const result = 'x'.repeat(EXECUTION_RESULT_MAX_CHARS - 1) + '😀'.repeat(50_000);
    const done = await store.transition(ns, r.id, ['running'], {
      status: 'completed',
      completedAt: new Date().toISOString(),
      outcome: completed(result),
    });
    expect(done?.outcome?.resultTruncated).toBe(true);
    expect(done?.outcome?.result).toBe('x'.repeat(EXECUTION_RESULT_MAX_CHARS - 1));
    const status = (await raw(r.id)).status!;
    expect(status.result!.length).toBeLessThanOrEqual(EXECUTION_RESULT_MAX_CHARS);
    expect(status.resultTruncated).toBe(true);
  });

  it("keeps the controller's phase and fields across a transition", async () => {
    const r = record({ status: 'queued', startedAt: undefined });
    await store.create(r);
    const path = `${executionPath(ns, r.id)}/status`;
    const scheduled = await api('PATCH', path, {
      body: { status: { phase: 'Scheduled', runner: { pod: 'runner-1', node: 'node-a' } } },
      contentType: 'application/merge-patch+json',
    });
    expect(scheduled.status).toBe(200);
    expect((await store.get(ns, r.id))?.status).toBe('queued');
    const queued = await store.list({ namespace: ns, limit: 1000, status: 'queued' });
    expect(queued.items.map((x) => x.id)).toContain(r.id);
    const started = '2026-01-01T00:00:01.000Z';
    expect(await store.transition(ns, r.id, ['queued'], { startedAt: started })).toMatchObject({
      status: 'queued',
      startedAt: started,
    });
    expect((await raw(r.id)).status).toMatchObject({ phase: 'Scheduled', runner: { pod: 'runner-1' } });
    await store.transition(ns, r.id, ['queued'], { status: 'running' });
    expect((await raw(r.id)).status).toMatchObject({
      phase: 'Running',
      runner: { pod: 'runner-1', node: 'node-a' },
    });
  });

  it('repairs a phase label a crash left behind when listing unfinished records', async () => {
    const r = record();
    await store.create(r);
    await store.transition(ns, r.id, ['running'], {
      status: 'completed',
      completedAt: new Date().toISOString(),
      outcome: completed(),
    });
    // As if the process died between the status write and the label write.
    const stale = await api('PATCH', executionPath(ns, r.id), {
      body: { metadata: { labels: { [LABEL_PHASE]: 'Running', [LABEL_COMPLETED_MS]: null } } },
      contentType: 'application/merge-patch+json',
    });
    expect(stale.status).toBe(200);
    expect((await store.listUnfinished()).map((x) => x.id)).not.toContain(r.id);
    expect((await raw(r.id)).metadata?.labels?.[LABEL_PHASE]).toBe('Succeeded');
    expect((await raw(r.id)).metadata?.labels?.[LABEL_COMPLETED_MS]).toBeDefined();
  });

  it('refuses an id that is not a DNS label, and a namespace that does not exist', async () => {
    await expect(store.create(record({ id: 'Not_A_Label' }))).rejects.toMatchObject({
      code: 'MCPV8_ERR_INPUT_INVALID',
    });
    await expect(store.create(record({ namespace: `es-${run}-missing` }))).rejects.toMatchObject({
      code: 'MCPV8_ERR_INPUT_INVALID',
    });
    expect(await store.get(`es-${run}-missing`, randomUUID())).toBeUndefined();
    expect(await store.list({ namespace: `es-${run}-missing`, limit: 5 })).toEqual({ items: [] });
  });
});
