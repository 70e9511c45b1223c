// The checked-in CRDs on a real kube-apiserver: they install and become Established, and the
// server enforces what they promise — defaults, validation (422), CEL immutability, the status
// and scale subresources, short names and category, and kubectl's printer columns.
//
// Requests go out as raw JSON/YAML (not through client-node's typed models, which drop the
// schema keyword `default`), so the server gets exactly the checked-in files.
import { randomBytes } from 'node:crypto';
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
  type Execution,
  type RunnerPool,
} from '../../src/api/v1alpha1/index.ts';
import { kubeApi, type KubeReply, type KubeRequestOptions } from '../harness/kube-api.ts';

const kube = inject('services').kube!;
const root = fileURLToPath(new URL('../../', import.meta.url));
const ns = `crds-${randomBytes(3).toString('hex')}`;
const FIELD_MANAGER = 'mcpv8-crds-test';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io';

/** One raw API request as the admin user (see test/harness/kube-api.ts). */
const api = <T = Record<string, unknown>>(method: string, path: string, opts: KubeRequestOptions = {}) =>
  kubeApi<T>(kube, method, path, opts);

const group = `/apis/${API_VERSION}/namespaces/${ns}`;
const executions = `${group}/executions`;
const pools = `${group}/runnerpools`;
const MERGE = 'application/merge-patch+json';

const execution = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: 'Execution',
  metadata: { name },
  spec,
});

async function createExecution(name: string, spec: Record<string, unknown>): Promise<Execution> {
  const res = await api<Execution>('POST', executions, { body: execution(name, spec) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const mergePatch = (path: string, body: unknown) => api('PATCH', path, { body, contentType: MERGE });

/** The message of a 422, for asserting which rule refused the request. */
const messageOf = (res: KubeReply) => String(res.body.message);

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

beforeAll(async () => {
  // Server-side apply of the checked-in YAML as is: creates the CRDs or brings them up to date.
  // They are left installed afterwards: their names are fixed and other suites use them too.
  for (const crd of CRDS) {
    const res = await api(
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=${FIELD_MANAGER}&force=true`,
      {
        body: readFileSync(join(root, crdPath(crd)), 'utf8'),
        contentType: 'application/apply-patch+yaml',
      },
    );
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
  for (const crd of CRDS) {
    await waitFor(`${crd.metadata.name} Established`, async () => {
      const res = await api<{ status?: { conditions?: { type: string; status: string }[] } }>(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      );
      return !!res.body.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
  }
  const created = await api('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } });
  expect(created.status).toBe(201);
  // Established can precede the first successful request by a moment.
  await waitFor('executions served', async () => (await api('GET', executions)).status === 200);
});

afterAll(async () => {
  await api('DELETE', `/api/v1/namespaces/${ns}`);
});

describe('CRDs on a real kube-apiserver', () => {
  it('serves both kinds with their short names, category and subresources', async () => {
    const res = await api<{
      resources: { name: string; shortNames?: string[]; categories?: string[]; namespaced: boolean }[];
    }>('GET', `/apis/${API_VERSION}`);
    const byName = new Map(res.body.resources.map((r) => [r.name, r]));
    expect(byName.get('executions')).toMatchObject({
      shortNames: ['exec'],
      categories: ['mcpv8'],
      namespaced: true,
    });
    expect(byName.get('runnerpools')).toMatchObject({
      shortNames: ['rp'],
      categories: ['mcpv8'],
      namespaced: true,
    });
    expect([...byName.keys()].sort()).toEqual([
      'executions',
      'executions/status',
      'runnerpools',
      'runnerpools/scale',
      'runnerpools/status',
    ]);
  });

  it('defaults an Execution that gives only its code', async () => {
    const created = await createExecution('defaults', { code: '1 + 1' });
    expect(created.spec).toEqual({
      code: '1 + 1',
      language: 'javascript',
      limits: { heapMemoryMaxMb: 8, timeoutSeconds: 30 },
      runnerPool: 'default',
      cancelRequested: false,
      ttlSecondsAfterFinished: 900,
    });
    const partial = await createExecution('partial-limits', { code: 'x', limits: { timeoutSeconds: 5 } });
    expect(partial.spec.limits).toEqual({ heapMemoryMaxMb: 8, timeoutSeconds: 5 });
  });

  it.each([
    ['an unknown language', 'bad-language', { code: 'x', language: 'python' }, 'spec.language'],
    ['a heap that is not hex', 'bad-heap', { code: 'x', heap: 'z'.repeat(64) }, 'spec.heap'],
    ['an upper-case heap', 'upper-heap', { code: 'x', heap: 'A'.repeat(64) }, 'spec.heap'],
    [
      'a heap cap above 64 MiB',
      'heap-high',
      { code: 'x', limits: { heapMemoryMaxMb: 65 } },
      'heapMemoryMaxMb',
    ],
    ['a heap cap below 4 MiB', 'heap-low', { code: 'x', limits: { heapMemoryMaxMb: 3 } }, 'heapMemoryMaxMb'],
    ['a zero timeout', 'timeout-low', { code: 'x', limits: { timeoutSeconds: 0 } }, 'timeoutSeconds'],
    [
      'a timeout above 300 s',
      'timeout-high',
      { code: 'x', limits: { timeoutSeconds: 301 } },
      'timeoutSeconds',
    ],
    ['code that is too long', 'long-code', { code: 'x'.repeat(EXECUTION_CODE_MAX_CHARS + 1) }, 'spec.code'],
    ['no code', 'no-code', { language: 'javascript' }, 'spec.code'],
    ['empty code', 'empty-code', { code: '' }, 'spec.code'],
    ['a bad tag key', 'bad-tag', { code: 'x', tags: { 'a\u0001b': 'v' } }, 'spec.tags'],
    [
      'a pool name that is not a DNS label',
      'bad-pool',
      { code: 'x', runnerPool: 'Pool.A' },
      'spec.runnerPool',
    ],
  ])('rejects %s with 422', async (_what, name, spec, field) => {
    const res = await api('POST', executions, { body: execution(name, spec) });
    expect(res.status).toBe(422);
    expect(messageOf(res)).toContain(field);
  });

  it('rejects a name that is not a DNS label', async () => {
    const res = await api('POST', executions, { body: execution('has.dots', { code: 'x' }) });
    expect(res.status).toBe(422);
    expect(messageOf(res)).toContain('DNS label');
  });

  it('keeps the spec immutable except cancelRequested (false → true) and the TTL', async () => {
    await createExecution('immutable', { code: '1', session: 's1' });
    const path = `${executions}/immutable`;

    for (const [spec, message] of [
      [{ code: '2' }, 'code is immutable'],
      [{ language: 'typescript' }, 'language is immutable'],
      [{ limits: { timeoutSeconds: 60 } }, 'limits is immutable'],
      [{ runnerPool: 'other' }, 'runnerPool is immutable'],
      [{ session: 's2' }, 'session is immutable'],
      [{ session: null }, 'session is immutable'],
      [{ heap: 'a'.repeat(64) }, 'heap is immutable'],
      [{ tags: { k: 'v' } }, 'tags is immutable'],
    ] as const) {
      const res = await mergePatch(path, { spec });
      expect(res.status, JSON.stringify(spec)).toBe(422);
      expect(messageOf(res)).toContain(message);
    }

    const ttl = await mergePatch(path, { spec: { ttlSecondsAfterFinished: 60 } });
    expect(ttl.status).toBe(200);
    const cancel = await mergePatch(path, { spec: { cancelRequested: true } });
    expect(cancel.status).toBe(200);
    expect((cancel.body as unknown as Execution).spec.cancelRequested).toBe(true);
    const uncancel = await mergePatch(path, { spec: { cancelRequested: false } });
    expect(uncancel.status).toBe(422);
    expect(messageOf(uncancel)).toContain('cancelRequested cannot go back to false');
  });

  it('writes status only through /status, which ignores spec changes', async () => {
    const created = await createExecution('status', { code: '1' });
    const path = `${executions}/status`;

    const viaStatus = await mergePatch(`${path}/status`, {
      spec: { code: 'changed' },
      status: { phase: 'Running', runner: { pod: 'runner-a', node: 'node-1' } },
    });
    expect(viaStatus.status).toBe(200);
    const afterStatus = viaStatus.body as unknown as Execution;
    expect(afterStatus.status).toEqual({ phase: 'Running', runner: { pod: 'runner-a', node: 'node-1' } });
    expect(afterStatus.spec.code).toBe('1');
    expect(afterStatus.metadata?.generation).toBe(created.metadata?.generation);

    // The main endpoint, in turn, ignores status.
    const viaMain = await mergePatch(path, { status: { phase: 'Succeeded' } });
    expect(viaMain.status).toBe(200);
    expect((viaMain.body as unknown as Execution).status?.phase).toBe('Running');

    const badPhase = await mergePatch(`${path}/status`, { status: { phase: 'Done' } });
    expect(badPhase.status).toBe(422);
    const badReason = await mergePatch(`${path}/status`, {
      status: { error: { reason: 'Oops', message: '' } },
    });
    expect(badReason.status).toBe(422);
  });

  it('shows phase, reason, session and runner in the kubectl table', async () => {
    await createExecution('printed', { code: 'while (true) {}', session: 'demo' });
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const status = await mergePatch(`${executions}/printed/status`, {
      status: {
        phase: 'TimedOut',
        runner: { pod: 'runner-b', node: 'node-1' },
        startTime: now,
        completionTime: now,
        conditions: [
          {
            type: 'Succeeded',
            status: 'False',
            reason: 'Timeout',
            message: 'the execution exceeded its 30 s time limit',
            lastTransitionTime: now,
          },
        ],
        error: { reason: 'Timeout', message: 'the execution exceeded its 30 s time limit' },
      },
    });
    expect(status.status, JSON.stringify(status.body)).toBe(200);

    const table = await api<{
      columnDefinitions: { name: string; type: string }[];
      rows: { cells: unknown[] }[];
    }>('GET', `${executions}/printed`, { accept: TABLE });
    expect(table.status).toBe(200);
    expect(table.body.columnDefinitions.map((c) => c.name)).toEqual([
      'Name',
      'Phase',
      'Reason',
      'Session',
      'Runner',
      'Start',
      'Completion',
      'Age',
    ]);
    const [cells] = table.body.rows.map((r) => r.cells);
    expect(cells!.slice(0, 5)).toEqual(['printed', 'TimedOut', 'Timeout', 'demo', 'runner-b']);
    // Dates print as ages, e.g. "0s".
    for (const age of cells!.slice(5)) expect(age).toMatch(/^\d+s$/);
  });

  it('scales a RunnerPool through /scale and prints its columns', async () => {
    const created = await api<RunnerPool>('POST', pools, {
      body: { apiVersion: API_VERSION, kind: 'RunnerPool', metadata: { name: 'pool' } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.spec).toEqual({
      replicas: 2,
      executionsPerPod: 1,
      isolate: { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 },
    });
    const path = `${pools}/pool`;

    const status = await mergePatch(`${path}/status`, {
      status: { replicas: 2, readyReplicas: 1, selector: 'mcpv8.dev/pool=pool' },
    });
    expect(status.status).toBe(200);

    const scale = await api<{ kind: string; spec: { replicas: number }; status: Record<string, unknown> }>(
      'GET',
      `${path}/scale`,
    );
    expect(scale.status).toBe(200);
    expect(scale.body.kind).toBe('Scale');
    expect(scale.body.spec.replicas).toBe(2);
    expect(scale.body.status).toEqual({ replicas: 2, selector: 'mcpv8.dev/pool=pool' });

    const put = await api('PUT', `${path}/scale`, { body: { ...scale.body, spec: { replicas: 5 } } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const pool = await api<RunnerPool>('GET', path);
    expect(pool.body.spec.replicas).toBe(5);

    const negative = await api('PUT', `${path}/scale`, {
      // No resourceVersion: an unconditional update, so only validation can refuse it.
      body: { ...scale.body, metadata: { name: 'pool', namespace: ns }, spec: { replicas: -1 } },
    });
    expect(negative.status).toBe(422);

    const table = await api<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>(
      'GET',
      path,
      { accept: TABLE },
    );
    expect(table.body.columnDefinitions.map((c) => c.name)).toEqual([
      'Name',
      'Desired',
      'Ready',
      'Per-Pod',
      'Age',
    ]);
    expect(table.body.rows[0]!.cells.slice(0, 4)).toEqual(['pool', 5, 1, 1]);
  });

  it('refuses a RunnerPool whose isolate default exceeds its maximum', async () => {
    const res = await api('POST', pools, {
      body: {
        apiVersion: API_VERSION,
        kind: 'RunnerPool',
        metadata: { name: 'bad-isolate' },
        spec: { isolate: { defaultHeapMb: 32, maxHeapMb: 16 } },
      },
    });
    expect(res.status).toBe(422);
    expect(messageOf(res)).toContain('defaultHeapMb must not exceed maxHeapMb');
  });
});
