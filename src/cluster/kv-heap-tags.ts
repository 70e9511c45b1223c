/**
 * The cluster HeapTagStore: heap tags in a JetStream KV bucket (default `MCPV8_HEAP_TAGS`).
 *
 * Keys (heap ids are validated 64-hex, tag keys and values go through {@link kvToken}):
 *   h.<heap>                    the heap's tags, JSON (absent or deleted: no tags)
 *   i.<key>.<value>.<heap>      index entry, empty: the heap has tag key = value
 *
 * Every change of a heap is one atomic batch on the bucket's stream: the index entries that
 * come and go, then `h.<heap>` with an expected revision (the one the change was computed
 * from). So the index always says exactly what the heap entries say, and concurrent changes of
 * one heap are serialised by compare-and-set (the loser recomputes from the new tags).
 *
 * A query lists the index entries of each pair (`i.<key>.<value>.*`, server-side filtered:
 * cost ∝ heaps carrying that pair, never all heaps), intersects them, and reads the tags of
 * the first `limit` heaps in heap-id order, checking each against the match (which also guards
 * against a hash collision of long tokens). An empty match lists `h.*`: every tagged heap.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { assertHeapId, HEAP_ID_PATTERN, type HeapId } from '../core/api/heap-id.ts';
import { Mcpv8Error } from '../core/errors.ts';
import { HeapTagsSchema, type HeapTags, type HeapTagStore } from '../core/session-log.ts';
import {
  BatchRejectedError,
  JS_ERR,
  isRetryableBatchError,
  publishAtomicBatch,
  sleep,
  type BatchMessage,
} from './jetstream-batch.ts';
import { listKeys, openBucket, type KvBucketOptions, type OpenBucket } from './kv-bucket.ts';
import { kvToken } from './nats-tokens.ts';

export interface KvHeapTagStoreOptions extends KvBucketOptions {
  /** Bucket name (default `MCPV8_HEAP_TAGS`); created when missing. */
  bucket?: string;
}

/** A change of one heap gives up after losing this many races in a row. */
const MAX_ATTEMPTS = 100;
/** Heaps whose tags a query reads at once. */
const READ_WINDOW = 64;

interface Current {
  tags: HeapTags;
  /** Revision of `h.<heap>` (0: never written). */
  revision: number;
}

/** {@link HeapTagStore} on a JetStream KV bucket; create with {@link KvHeapTagStore.open}. */
export class KvHeapTagStore implements HeapTagStore {
  readonly #b: OpenBucket;
  readonly #timeoutMs: number;

  /** Opens (or creates) the bucket and enables atomic batches on its stream. */
  static async open(nc: NatsConnection, opts: KvHeapTagStoreOptions = {}): Promise<KvHeapTagStore> {
    const bucket = await openBucket(nc, opts.bucket ?? 'MCPV8_HEAP_TAGS', { ...opts, atomic: true });
    return new KvHeapTagStore(bucket, opts.timeoutMs ?? 10_000);
  }

  private constructor(bucket: OpenBucket, timeoutMs: number) {
    this.#b = bucket;
    this.#timeoutMs = timeoutMs;
  }

  async get(heap: HeapId): Promise<HeapTags> {
    assertHeapId(heap);
    return (await this.#read(heap)).tags;
  }

  async set(heap: HeapId, tags: HeapTags): Promise<void> {
    assertHeapId(heap);
    const parsed = HeapTagsSchema.safeParse(tags);
    if (!parsed.success) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
        `tags: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      ]);
    }
    // The caller's object, not zod's copy: an own `__proto__` key must stay an ordinary tag.
    const next = Object.fromEntries(Object.entries(tags));
    await this.#change(heap, () => next);
  }

  async delete(heap: HeapId, keys?: readonly string[]): Promise<HeapTags> {
    assertHeapId(heap);
    const drop = keys === undefined ? undefined : new Set(keys);
    return this.#change(heap, (old) =>
      drop === undefined ? {} : Object.fromEntries(Object.entries(old).filter(([k]) => !drop.has(k))),
    );
  }

  async query(match: HeapTags, limit: number): Promise<Array<{ heap: HeapId; tags: HeapTags }>> {
    if (!(limit >= 1)) return [];
    const pairs = Object.entries(match);
    const lists =
      pairs.length === 0
        ? [await listKeys(this.#b.kv, 'h.*')]
        : await Promise.all(pairs.map(([k, v]) => listKeys(this.#b.kv, `i.${kvToken(k)}.${kvToken(v)}.*`)));
    const heapsOf = lists.map((keys) => new Set(keys.map((key) => key.slice(key.lastIndexOf('.') + 1))));
    const [first = new Set<string>(), ...others] = heapsOf.sort((a, b) => a.size - b.size);
    const candidates = [...first]
      .filter((h) => HEAP_ID_PATTERN.test(h) && others.every((set) => set.has(h)))
      .sort();

    const found: Array<{ heap: HeapId; tags: HeapTags }> = [];
    for (let i = 0; i < candidates.length && found.length < limit; i += READ_WINDOW) {
      const window = candidates.slice(i, i + READ_WINDOW);
      const read = await Promise.all(window.map((heap) => this.#read(heap)));
      window.forEach((heap, n) => {
        const { tags } = read[n]!;
        const matches = pairs.every(([k, v]) => Object.hasOwn(tags, k) && tags[k] === v);
        // A heap may have changed since the listing.
        if (matches && Object.keys(tags).length > 0 && found.length < limit) found.push({ heap, tags });
      });
    }
    return found;
  }

  async #read(heap: HeapId): Promise<Current> {
    const e = await this.#b.kv.get(`h.${heap}`);
    if (e === null) return { tags: {}, revision: 0 };
    if (e.operation !== 'PUT') return { tags: {}, revision: e.revision };
    // JSON.parse defines properties, so a `__proto__` key comes back as an ordinary tag.
    return { tags: e.json<HeapTags>(), revision: e.revision };
  }

  /** Applies `compute` to the heap's current tags atomically (compare-and-set, retried). */
  async #change(heap: HeapId, compute: (old: HeapTags) => HeapTags): Promise<HeapTags> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#read(heap);
      const next = compute(current.tags);
      if (sameTags(current.tags, next)) return next;
      try {
        await this.#commit(this.#batch(heap, current, next));
        return next;
      } catch (err) {
        if (!(err instanceof BatchRejectedError && err.errCode === JS_ERR.WRONG_LAST_SEQUENCE)) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
            `changing the tags of heap ${heap} lost ${MAX_ATTEMPTS} races with other writers`,
          ]);
        }
      }
    }
  }

  /** Index entries that go, those that come, then the heap entry guarded by its revision. */
  #batch(heap: HeapId, current: Current, next: HeapTags): BatchMessage[] {
    const del = { 'KV-Operation': 'DEL' };
    const messages: BatchMessage[] = [];
    for (const [k, v] of Object.entries(current.tags)) {
      if (!(Object.hasOwn(next, k) && next[k] === v))
        messages.push({ subject: this.#index(k, v, heap), headers: del });
    }
    for (const [k, v] of Object.entries(next)) {
      if (!(Object.hasOwn(current.tags, k) && current.tags[k] === v))
        messages.push({ subject: this.#index(k, v, heap) });
    }
    const expect = { 'Nats-Expected-Last-Subject-Sequence': String(current.revision) };
    messages.push(
      Object.keys(next).length === 0
        ? { subject: this.#b.subject(`h.${heap}`), headers: { ...del, ...expect } }
        : {
            subject: this.#b.subject(`h.${heap}`),
            payload: Buffer.from(JSON.stringify(next)),
            headers: expect,
          },
    );
    return messages;
  }

  #index(key: string, value: string, heap: HeapId): string {
    return this.#b.subject(`i.${kvToken(key)}.${kvToken(value)}.${heap}`);
  }

  /**
   * Sends the batch, again while its outcome is unknown or the server busy. A resend of a batch
   * that did land fails its compare-and-set, and the caller then finds its own tags in place.
   */
  async #commit(messages: BatchMessage[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await publishAtomicBatch(this.#b.nc, messages, this.#timeoutMs);
        return;
      } catch (err) {
        if (attempt >= 5 || !isRetryableBatchError(err)) throw err;
        await sleep(25 * 2 ** attempt);
      }
    }
  }
}

function sameTags(a: HeapTags, b: HeapTags): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
