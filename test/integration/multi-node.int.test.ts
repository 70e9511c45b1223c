// Two embedded nodes sharing the harness NATS and an S3 bucket form one cluster: each serves the
// other's executions, output and sessions, cancels reach the node that runs the code, and a
// restarted node recovers only what it left unfinished itself. Every run uses its own
// bucket/stream/subject prefix, so it never meets other suites' data on the shared server.
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded, type RunningServer } from '../../src/cli/embedded.ts';
import { KvExecutionStore } from '../../src/cluster/kv-execution-store.ts';
import { freePort } from '../harness/free-port.ts';
import { s3TestClient } from '../harness/s3-client.ts';

const services = inject('services');
const nats = services.nats!;
const s3 = services.s3!;
const run = randomBytes(4).toString('hex');
const PREFIX = `MN${run}`;
const bucket = `multi-node-${run}`;
const dir = mkdtempSync(join(tmpdir(), 'multi-node-'));

interface Node {
  server: RunningServer;
  url: string;
  dataDir: string;
}

async function start(name: string): Promise<Node> {
  const dataDir = join(dir, name);
  const config = loadConfig(
    [
      ...['--http-port', String(await freePort()), '--data-dir', dataDir],
      ...['--nats-url', nats.url, '--nats-prefix', PREFIX],
      ...['--s3-bucket', bucket, '--s3-prefix', 'heaps/', '--s3-endpoint', s3.url],
      ...['--s3-force-path-style', '--s3-region', s3.region],
      ...['--max-concurrent-executions', '2', '--log-level', 'silent'],
    ],
    {},
  ) as Config;
  const server = await startEmbedded(config, pino({ level: 'silent' }));
  return { server, url: server.url!, dataDir };
}

let node1: Node;
let node2: Node;
let nc: NatsConnection;

beforeAll(async () => {
  await s3TestClient(s3).send(new CreateBucketCommand({ Bucket: bucket }));
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
  nc = await connect({ servers: nats.url });
  [node1, node2] = await Promise.all([start('node1'), start('node2')]);
});

afterAll(async () => {
  await Promise.all([node1?.server.close(), node2?.server.close()]);
  const jsm = await jetstreamManager(nc);
  for (const stream of ['EXECUTIONS', 'SESSIONS', 'HEAP_TAGS'].map((b) => `KV_${PREFIX}_${b}`))
    await jsm.streams.delete(stream).catch(() => undefined);
  await jsm.streams.delete(`${PREFIX}_OUTPUT`).catch(() => undefined);
  await nc.drain();
  vi.unstubAllEnvs();
  rmSync(dir, { recursive: true, force: true });
});

interface View {
  execution_id: string;
  status: string;
  result?: string;
  heap?: string;
  error?: { reason?: string; message: string };
}

async function api<T = View>(url: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  const json = (await res.json()) as T;
  expect(res.status, JSON.stringify(json)).toBeLessThan(300);
  return json;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const running = (url: string, id: string) =>
  until(`${id} running`, async () => {
    const v = await api(url, `/api/executions/${id}`);
    return v.status === 'running' ? v : undefined;
  });

/**
 * A cell that keeps its runner busy for about `ms` milliseconds. The clock is read rarely: each
 * read is journaled in stateful mode, and the journal is bounded.
 */
const busy = (ms: number) =>
  `const end = Date.now() + ${ms}; let n = 0; while (++n % 1e6 !== 0 || Date.now() < end) {} 'done'`;

describe('two embedded nodes sharing NATS and S3', () => {
  it('serves an execution run on one node from the other', async () => {
    const done = await api(node1.url, '/api/exec?wait=30', { code: 'console.log("from node 1"); 1 + 1' });
    expect(done).toMatchObject({ status: 'completed', result: '2' });
    const id = done.execution_id;
    expect(await api(node2.url, `/api/executions/${id}`)).toMatchObject({ status: 'completed', result: '2' });
    const out = await api<{ data: string }>(node2.url, `/api/executions/${id}/output`);
    expect(out.data).toBe('from node 1\n');
    const list = await api<{ executions: View[] }>(node2.url, '/api/executions?limit=50');
    expect(list.executions.map((e) => e.execution_id)).toContain(id);
  });

  it('continues a session on the other node, and lists it there', async () => {
    const session = `s-${run}`;
    const first = await api(node1.url, '/api/exec?wait=30', { code: 'var x = 1; x', session });
    expect(first.status, JSON.stringify(first.error)).toBe('completed');
    const next = await api(node2.url, '/api/exec?wait=30', { code: 'x + 1', heap: first.heap, session });
    expect(next, JSON.stringify(next.error)).toMatchObject({ status: 'completed', result: '2' });
    const sessions = await api<{ sessions: Array<{ session?: string; name?: string } | string> }>(
      node2.url,
      '/api/sessions',
    );
    expect(JSON.stringify(sessions)).toContain(session);
    const snapshots = await api<unknown>(node2.url, `/api/sessions/${session}/snapshots`);
    expect(JSON.stringify(snapshots)).toContain(first.heap!);
    expect(JSON.stringify(snapshots)).toContain(next.heap!);
  });

  it('cancels from one node an execution running on the other', async () => {
    const started = await api(node1.url, '/api/exec', {
      code: 'while (true) {}',
      execution_timeout_secs: 120,
    });
    await running(node2.url, started.execution_id);
    const cancelled = await api(node2.url, `/api/executions/${started.execution_id}/cancel`, {});
    expect(cancelled.status).toBe('cancelled');
    expect(await api(node1.url, `/api/executions/${started.execution_id}`)).toMatchObject({
      status: 'cancelled',
    });
  });

  it("never fails another node's running execution; a restarted node recovers only its own", async () => {
    const store = await KvExecutionStore.open(nc, { bucket: `${PREFIX}_EXECUTIONS` });
    const live = await api(node1.url, '/api/exec', { code: busy(20_000), execution_timeout_secs: 60 });
    // Stamped from the start (queued), so only its node ever recovers it.
    expect((await store.get('default', live.execution_id))?.runner).toBe(node1.server.node);
    await running(node1.url, live.execution_id);
    const owner1 = (await store.get('default', live.execution_id))!.runner!;
    expect(owner1).toBe(node1.server.node);
    // What a crash of node 1 would leave behind: a record it owned, still "running".
    const orphan = randomUUID();
    await store.create({
      id: orphan,
      status: 'running',
      code: '1',
      language: 'javascript',
      limits: { heapMemoryMaxMb: 8, timeoutSeconds: 10 },
      namespace: 'default',
      runner: owner1,
      createdAt: new Date().toISOString(),
      startedAt: new Date().toISOString(),
    });

    // Node 2 restarts while node 1 runs: it touches neither of node 1's executions.
    await node2.server.close();
    node2 = await start('node2');
    expect((await store.get('default', orphan))?.status).toBe('running');
    expect((await api(node2.url, `/api/executions/${live.execution_id}`)).status).toBe('running');
    const finished = await until(
      'the live run to end',
      async () => {
        const v = await api(node2.url, `/api/executions/${live.execution_id}`);
        return v.status === 'running' ? undefined : v;
      },
      60_000,
    );
    expect(finished, JSON.stringify(finished)).toMatchObject({ status: 'completed', result: '"done"' });

    // Node 1 restarts (same data dir, so the same node id): it fails what it left unfinished.
    await node1.server.close();
    node1 = await start('node1');
    expect(node1.server.node).toBe(owner1);
    const recovered = await store.get('default', orphan);
    expect(recovered?.status).toBe('failed');
    expect(recovered?.outcome?.error?.reason).toBe('RunnerCrashed');
  });

  it('cancels an execution whose node is gone', async () => {
    const store = await KvExecutionStore.open(nc, { bucket: `${PREFIX}_EXECUTIONS` });
    const id = randomUUID();
    await store.create({
      id,
      status: 'running',
      code: '1',
      language: 'javascript',
      limits: { heapMemoryMaxMb: 8, timeoutSeconds: 10 },
      namespace: 'default',
      runner: `gone-${run}`,
      createdAt: new Date().toISOString(),
    });
    expect(await api(node2.url, `/api/executions/${id}/cancel`, {})).toMatchObject({ status: 'cancelled' });
  });
});
