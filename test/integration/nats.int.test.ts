// Proves the NATS in the suite is a real JetStream server: acknowledged, de-duplicated
// publishes, ordered replay from a stream, and KV compare-and-set, which an in-memory fake of
// core NATS would not give.
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const nats = inject('services').nats!;
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.drain();
});

describe('NATS JetStream (real server)', () => {
  it('runs a current server with JetStream enabled', () => {
    expect(nats.version).toMatch(/^2\.(1\d|[2-9]\d)\./);
  });

  it('acknowledges publishes with stream sequences, de-duplicates by message id, and replays in order', async () => {
    const stream = `SMOKE_${Date.now()}`;
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], duplicate_window: 60_000_000_000 });
    const js = jetstream(nc);

    const acks = [];
    for (let i = 0; i < 20; i++)
      acks.push(await js.publish(`${stream}.out`, `line ${i}`, { msgID: `m${i}` }));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);

    const again = await js.publish(`${stream}.out`, 'line 3', { msgID: 'm3' });
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(4);

    await jsm.consumers.add(stream, {
      durable_name: 'reader',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    const consumer = await js.consumers.get(stream, 'reader');
    const seen: string[] = [];
    const batch = await consumer.fetch({ max_messages: 25, expires: 2000 });
    for await (const m of batch) {
      seen.push(m.string());
      m.ack();
      if (seen.length === 20) break;
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`));
    await jsm.streams.delete(stream);
  });

  it('offers KV compare-and-set: a stale revision is rejected', async () => {
    const kv = await new Kvm(nc).create(`smoke_${Date.now()}`, { history: 5 });
    const r1 = await kv.create('heap', 'a');
    await expect(kv.create('heap', 'b')).rejects.toThrow();
    const r2 = await kv.update('heap', 'c', r1);
    expect(r2).toBeGreaterThan(r1);
    await expect(kv.update('heap', 'd', r1)).rejects.toThrow(/wrong last sequence/i);
    expect((await kv.get('heap'))?.string()).toBe('c');
    await kv.destroy();
  });
});
