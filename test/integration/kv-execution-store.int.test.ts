// KvExecutionStore (execution records in a JetStream KV bucket, shared by embedded nodes) against
// the real NATS server: the shared ExecutionStore contract, plus what only a shared server shows —
// two connections racing on one record, and a page that does not read every record.
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KvExecutionStore } from '../../src/cluster/kv-execution-store.ts';
import type { ExecutionRecord } from '../../src/core/execution-store.ts';
import { executionStoreContract } from '../contract/execution-store.contract.ts';

const nats = inject('services').nats!;
const run = randomBytes(4).toString('hex');
let n = 0;
const connections: NatsConnection[] = [];
let nc: NatsConnection;

async function connection(): Promise<NatsConnection> {
  const c = await connect({ servers: nats.url });
  connections.push(c);
  return c;
}

beforeAll(async () => {
  nc = await connection();
});
afterAll(async () => {
  await Promise.all(connections.filter((c) => !c.isClosed()).map((c) => c.drain()));
});

async function freshStore(): Promise<{
  bucket: string;
  store: KvExecutionStore;
  dispose: () => Promise<void>;
}> {
  const bucket = `EXEC_${run}_${++n}`;
  const store = await KvExecutionStore.open(nc, { bucket });
  return {
    bucket,
    store,
    dispose: async () => {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    },
  };
}

executionStoreContract('KvExecutionStore', async () => {
  const { store, dispose } = await freshStore();
  return { store, namespace: (l) => l, dispose };
});

describe('KvExecutionStore on a shared server', () => {
  const record = (id: string, over: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
    id,
    status: 'running',
    code: '1',
    language: 'javascript',
    limits: { heapMemoryMaxMb: 8, timeoutSeconds: 10 },
    namespace: 'default',
    createdAt: new Date().toISOString(),
    ...over,
  });

  it('lets exactly one of two nodes win a transition', async () => {
    const { bucket, store, dispose } = await freshStore();
    try {
      const other = await KvExecutionStore.open(await connection(), { bucket });
      await store.create(record('race'));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? store : other).transition('default', 'race', ['running'], {
            status: 'cancelled',
            completedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
          }),
        ),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      expect(await listUnfinishedIds(other)).toEqual([]);
      // Another node sees the record the winner wrote.
      expect(await other.get('default', 'race')).toStrictEqual(results.find((r) => r !== undefined));
    } finally {
      await dispose();
    }
  });

  it('sees records and ids another connection created', async () => {
    const { bucket, store, dispose } = await freshStore();
    try {
      const other = await KvExecutionStore.open(await connection(), { bucket });
      await store.create(record('x', { status: 'queued' }));
      await expect(other.create(record('x'))).rejects.toThrow();
      expect(await listUnfinishedIds(other)).toEqual(['x']);
      expect((await other.list({ namespace: 'default', limit: 10 })).items.map((r) => r.id)).toEqual(['x']);
    } finally {
      await dispose();
    }
  });

  it('reads a page from the newest hours only', async () => {
    const { store, dispose } = await freshStore();
    try {
      // 30 hours of 20 records; the newest page must not need the older hours.
      const all: ExecutionRecord[] = [];
      for (let h = 0; h < 30; h++)
        for (let i = 0; i < 20; i++)
          all.push(
            record(`h${String(h).padStart(2, '0')}-${i}`, {
              status: 'completed',
              createdAt: new Date(Date.UTC(2026, 0, 1, h, i)).toISOString(),
            }),
          );
      for (let i = 0; i < all.length; i += 50)
        await Promise.all(all.slice(i, i + 50).map((r) => store.create(r)));
      const started = Date.now();
      const page = await store.list({ namespace: 'default', limit: 10 });
      expect(page.items.map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `h29-${19 - i}`));
      expect(Date.now() - started).toBeLessThan(2_000);
      const next = await store.list({ namespace: 'default', limit: 15, cursor: page.nextCursor });
      expect(next.items.map((r) => r.id).slice(-5)).toEqual([
        'h28-19',
        'h28-18',
        'h28-17',
        'h28-16',
        'h28-15',
      ]);
    } finally {
      await dispose();
    }
  });

  it('keeps records larger than one message: a cell of 1 Mi characters and a result near 1 MiB', async () => {
    const { bucket, store, dispose } = await freshStore();
    const jsm = await jetstreamManager(nc);
    // Write tokens of the stored parts: `$KV.<bucket>.p.<ns>.<id>.<write>.<k>`.
    const partWrites = async () => {
      const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `$KV.${bucket}.p.>` });
      return new Set(Object.keys(info.state.subjects ?? {}).map((s) => s.split('.')[5]));
    };
    try {
      // 2 MiB of UTF-8; NATS carries at most 1 MiB in one message.
      const r = record('large', { status: 'queued', code: `${'é'.repeat(1 << 20)}"\n` });
      await store.create(r);
      expect(await store.get('default', 'large')).toStrictEqual(r);
      const other = await KvExecutionStore.open(await connection(), { bucket });
      const startedAt = new Date().toISOString();
      expect(
        await other.transition('default', 'large', ['queued'], { status: 'running', startedAt }),
      ).toMatchObject({ status: 'running', code: r.code });
      expect((await store.listUnfinished()).map((u) => [u.id, u.code === r.code])).toEqual([['large', true]]);
      const result = '"é\n'.repeat(250_000); // 1 MB, and more once escaped in JSON
      const done = await store.transition('default', 'large', ['running'], {
        status: 'completed',
        completedAt: new Date().toISOString(),
        outcome: {
          status: 'completed',
          result,
          resultType: 'string',
          effectiveHeapMb: 8,
          durationMs: 1,
          outputBytes: 0,
          outputTruncated: false,
        },
      });
      expect(done?.outcome?.result).toBe(result);
      expect(await other.get('default', 'large')).toStrictEqual(done);
      expect(await other.list({ namespace: 'default', limit: 10 })).toEqual({ items: [done] });
      // Only the parts of the version the record holds are kept.
      expect((await partWrites()).size).toBe(1);
      const later = new Date(Date.now() + 3_600_000).toISOString();
      expect(await other.deleteCompletedBefore(later)).toEqual(['large']);
      expect(await store.get('default', 'large')).toBeUndefined();
      expect((await partWrites()).size).toBe(0);
      // Bounded all the same: refused with a stable code before anything is sent.
      await expect(store.create(record('huge', { code: 'x'.repeat(33 << 20) }))).rejects.toMatchObject({
        code: 'MCPV8_ERR_INPUT_INVALID',
      });
    } finally {
      await dispose();
    }
  });
});

async function listUnfinishedIds(store: KvExecutionStore): Promise<string[]> {
  return (await store.listUnfinished()).map((r) => r.id).sort();
}
