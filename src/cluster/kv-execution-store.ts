/**
 * An ExecutionStore in a JetStream KV bucket (default `MCPV8_EXECUTIONS`): the records of several
 * embedded nodes sharing one NATS server.
 *
 * Keys (`<ns>` is the namespace as a {@link subjectToken}, `<id>` the id as a {@link kvNameToken},
 * `<hour>` the creation hour in hours since the epoch, `<ms>` the creation time in epoch ms):
 *   r.<ns>.<id>                the record, JSON; or, for a record larger than one message may
 *                              be, the head of its parts (see kv-record-parts.ts)
 *   p.<ns>.<id>.<write>.<k>    the parts of a large record, written and purged with its head
 *   t.<ns>.<hour>.<ms>.<id>    list index entry, empty; written with the record, never changed
 *                              (creation time never changes), removed with it
 *   h.<ns>.<hour>              marker: the namespace has index entries in this hour
 *   u.<ns>.<id>                the record is unfinished (queued or running)
 *
 * A create is one atomic batch (index entry, hour marker, unfinished mark, parts, then the record
 * expecting no previous value), so a duplicate id stores nothing and a crash never leaves a
 * record that lists cannot see. A transition is compare-and-set on the record's revision, in
 * the same batch as the removal of its unfinished mark when it ends; a lost race re-reads the
 * record and re-checks `from`.
 *
 * Costs: get = 1 KV get; transition = 1 get + 1 batch per attempt; a page of `limit` = 1 key
 * listing of the namespace's hour markers (≤ one per hour that has records, so bounded by the
 * retention), then per hour visited from the cursor backwards 1 key listing of that hour's index
 * entries and ⌈n/256⌉ direct batch gets of their records (or heads) until `limit + 1` match or
 * the page holds LIST_PAGE_MAX_BYTES, plus 1 direct get of the parts of each large record it
 * keeps. Unfiltered, a page reads about `limit` records plus the rest of one hour's keys; with a
 * status filter it reads the records of every hour it crosses until enough match. Memory stays
 * within the page's bytes and one window of 256 small records. listUnfinished = 1 key listing
 * of `u.>` + the unfinished records; deleteCompletedBefore = the hours before the cut-off.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { TERMINAL_STATUSES, type ExecutionStatus } from '../core/api/execution.ts';
import { Mcpv8Error } from '../core/errors.ts';
import type {
  ExecutionPage,
  ExecutionRecord,
  ExecutionStore,
  ListExecutionsQuery,
} from '../core/execution-store.ts';
import { PageFill, assertListLimit } from '../core/list-page.ts';
import { compareNewestFirst, decodeCursor, encodeCursor, type ListKey } from './execution-paging.ts';
import {
  BatchRejectedError,
  JS_ERR,
  isRetryableBatchError,
  publishAtomicBatch,
  sleep,
  type BatchMessage,
} from './jetstream-batch.ts';
import { listKeys, openBucket, type KvBucketOptions, type OpenBucket } from './kv-bucket.ts';
import {
  RecordLayout,
  decodeHead,
  readHeads,
  readParts,
  type EncodedRecord,
  type StoredHead,
} from './kv-record-parts.ts';
import { decodeKvNameToken, kvNameToken, subjectToken } from './nats-tokens.ts';

export interface KvExecutionStoreOptions extends KvBucketOptions {
  /** Bucket name (default `MCPV8_EXECUTIONS`); created when missing. */
  bucket?: string;
}

const HOUR_MS = 3_600_000;
/** Records read per direct-get request. */
const READ_WINDOW = 256;
/** A transition gives up after losing this many races in a row. */
const MAX_ATTEMPTS = 100;
/** Reads of a large record whose parts a concurrent write replaced each time, before giving up. */
const MAX_PART_READS = 5;
const DEL = Object.freeze({ 'KV-Operation': 'DEL' });

type Patch = Parameters<ExecutionStore['transition']>[3];

/** A record as read, with what a compare-and-set and the clean-up after a write need. */
interface ReadRecord {
  record: ExecutionRecord;
  revision: number;
  /** The write token of its parts, when it has some. */
  write?: string;
}

/** {@link ExecutionStore} on a JetStream KV bucket; create with {@link KvExecutionStore.open}. */
export class KvExecutionStore implements ExecutionStore {
  readonly #b: OpenBucket;
  readonly #timeoutMs: number;
  readonly #layout: RecordLayout;

  /** Opens (or creates) the bucket and enables atomic batches on its stream. */
  static async open(nc: NatsConnection, opts: KvExecutionStoreOptions = {}): Promise<KvExecutionStore> {
    const bucket = await openBucket(nc, opts.bucket ?? 'MCPV8_EXECUTIONS', { ...opts, atomic: true });
    return new KvExecutionStore(bucket, opts.timeoutMs ?? 10_000, nc.info?.max_payload ?? 1 << 20);
  }

  private constructor(bucket: OpenBucket, timeoutMs: number, maxPayload: number) {
    this.#b = bucket;
    this.#timeoutMs = timeoutMs;
    this.#layout = new RecordLayout(maxPayload);
  }

  async create(record: ExecutionRecord, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const ms = createdMs(record);
    const ns = nsToken(record.namespace);
    const id = idToken(record.id);
    const stored = this.#encode(ns, id, record);
    const messages: BatchMessage[] = [
      { subject: this.#b.subject(`t.${ns}.${hourOf(ms)}.${ms}.${id}`) },
      { subject: this.#b.subject(`h.${ns}.${hourOf(ms)}`) },
      ...(TERMINAL_STATUSES.has(record.status) ? [] : [{ subject: this.#b.subject(`u.${ns}.${id}`) }]),
      ...stored.parts,
      {
        subject: this.#b.subject(`r.${ns}.${id}`),
        payload: Buffer.from(stored.head),
        headers: { 'Nats-Expected-Last-Subject-Sequence': '0' },
      },
    ];
    const landed = await this.#commit(messages, async () => {
      // An attempt whose answer was lost may have stored this very record.
      const e = await this.#b.kv.get(`r.${ns}.${id}`);
      return e?.operation === 'PUT' && e.string() === stored.head;
    });
    if (!landed) throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`execution ${record.id} already exists`]);
  }

  async get(namespace: string, id: string, signal?: AbortSignal): Promise<ExecutionRecord | undefined> {
    signal?.throwIfAborted();
    return (await this.#read(namespace, id))?.record;
  }

  async transition(
    namespace: string,
    id: string,
    from: readonly ExecutionStatus[],
    patch: Patch,
    signal?: AbortSignal,
  ): Promise<ExecutionRecord | undefined> {
    signal?.throwIfAborted();
    if (from.length === 0) return undefined;
    for (let attempt = 1; ; attempt++) {
      const current = await this.#read(namespace, id);
      if (current === undefined || !from.includes(current.record.status)) return undefined;
      const next: ExecutionRecord = { ...current.record, ...definedOnly(patch) };
      if (sameJson(next, current.record)) return current.record;
      const ns = nsToken(namespace);
      const key = idToken(id);
      const stored = this.#encode(ns, key, next);
      const ends = TERMINAL_STATUSES.has(next.status) && !TERMINAL_STATUSES.has(current.record.status);
      const messages: BatchMessage[] = [
        ...(ends ? [{ subject: this.#b.subject(`u.${ns}.${key}`), headers: DEL }] : []),
        ...stored.parts,
        {
          subject: this.#b.subject(`r.${ns}.${key}`),
          payload: Buffer.from(stored.head),
          headers: { 'Nats-Expected-Last-Subject-Sequence': String(current.revision) },
        },
      ];
      const landed = await this.#commit(messages, async () => {
        const e = await this.#b.kv.get(`r.${ns}.${key}`);
        return e?.operation === 'PUT' && e.string() === stored.head;
      });
      if (landed) {
        // The replaced version's parts: nobody reads them any more (a reader holding the old
        // head reads again). Left behind by a crash, they go with the record.
        if (current.write !== undefined)
          await this.#purge([`p.${ns}.${key}.${current.write}.>`]).catch(() => undefined);
        return next;
      }
      if (attempt >= MAX_ATTEMPTS) {
        throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
          `changing execution ${id} lost ${MAX_ATTEMPTS} races with other writers`,
        ]);
      }
    }
  }

  /** @throws MCPV8_ERR_INPUT_INVALID for a limit outside 1–1000 or a cursor this store did not issue. */
  async list(query: ListExecutionsQuery, signal?: AbortSignal): Promise<ExecutionPage> {
    signal?.throwIfAborted();
    const { limit, status } = query;
    assertListLimit(limit);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const ns = nsToken(query.namespace);
    const hours = (await listKeys(this.#b.kv, `h.${ns}.*`))
      .map((k) => Number(k.slice(k.lastIndexOf('.') + 1)))
      .filter((h) => Number.isSafeInteger(h) && (after === undefined || h <= hourOf(after.ms)))
      .sort((a, b) => b - a);
    // Records in order until `limit + 1` match or the page's bytes are full; the parts of a
    // large record are read only once the page keeps it.
    const fill = new PageFill<{ key: ListKey; head: StoredHead }>(limit);
    fill: for (const hour of hours) {
      signal?.throwIfAborted();
      const keys = (await this.#indexOfHour(ns, hour))
        .filter((k) => after === undefined || compareNewestFirst(after, k) < 0)
        .sort(compareNewestFirst);
      for (let i = 0; i < keys.length; i += READ_WINDOW) {
        const window = keys.slice(i, i + READ_WINDOW);
        const heads = await readHeads(
          this.#b,
          window.map((k) => `r.${ns}.${idToken(k.id)}`),
        );
        for (const key of window) {
          const head = heads.get(`r.${ns}.${idToken(key.id)}`);
          // Missing: deleted after the listing.
          if (head === undefined || (status !== undefined && head.status !== status)) continue;
          if (!fill.add({ key, head }, head.bytes)) break fill;
        }
      }
    }
    const items: ExecutionRecord[] = [];
    for (const { head } of fill.items) {
      const record = await this.#resolve(ns, head);
      if (record !== undefined) items.push(record);
    }
    const last = fill.items.at(-1);
    return fill.more && last !== undefined ? { items, nextCursor: encodeCursor(last.key) } : { items };
  }

  async listUnfinished(signal?: AbortSignal): Promise<ExecutionRecord[]> {
    signal?.throwIfAborted();
    const keys = await listKeys(this.#b.kv, 'u.>');
    const records: ExecutionRecord[] = [];
    for (let i = 0; i < keys.length; i += READ_WINDOW) {
      const window = keys.slice(i, i + READ_WINDOW);
      const heads = await readHeads(
        this.#b,
        window.map((k) => `r.${k.slice(2)}`),
      );
      for (const k of window) {
        const head = heads.get(`r.${k.slice(2)}`);
        // A mark can outlive its record's end by a crash between writes; the status decides.
        if (head === undefined || TERMINAL_STATUSES.has(head.status)) continue;
        const record = await this.#resolve(k.split('.')[1]!, head);
        if (record !== undefined && !TERMINAL_STATUSES.has(record.status)) records.push(record);
      }
    }
    return records.sort((a, b) => -compareNewestFirst(keyOf(a), keyOf(b)));
  }

  async deleteCompletedBefore(before: string, signal?: AbortSignal): Promise<string[]> {
    signal?.throwIfAborted();
    const cutoff = Date.parse(before);
    if (Number.isNaN(cutoff)) throw new RangeError(`invalid time ${before}`);
    const deleted: string[] = [];
    // A record completed before the cut-off was created before it: only older hours matter.
    for (const marker of await listKeys(this.#b.kv, 'h.*.*')) {
      const [, ns = '', h = ''] = marker.split('.');
      const hour = Number(h);
      if (!Number.isSafeInteger(hour) || hour > hourOf(cutoff)) continue;
      const mark = await this.#b.kv.get(marker);
      const keys = await this.#indexOfHour(ns, hour);
      let left = keys.length;
      for (let i = 0; i < keys.length; i += READ_WINDOW) {
        const window = keys.slice(i, i + READ_WINDOW);
        const heads = await readHeads(
          this.#b,
          window.map((k) => `r.${ns}.${idToken(k.id)}`),
        );
        for (const k of window) {
          const id = idToken(k.id);
          const head = heads.get(`r.${ns}.${id}`);
          // Only a finished record may go: the parts of a large one are read only then.
          const r =
            head === undefined || !TERMINAL_STATUSES.has(head.status)
              ? head?.record
              : await this.#resolve(ns, head);
          const done =
            r !== undefined &&
            TERMINAL_STATUSES.has(r.status) &&
            r.completedAt !== undefined &&
            r.completedAt < before;
          // No record: a deletion stopped half-way; finish it.
          if (head !== undefined && !done) continue;
          await this.#purge([`r.${ns}.${id}`, `u.${ns}.${id}`, `p.${ns}.${id}.>`]);
          await this.#purge([`t.${ns}.${hour}.${k.ms}.${id}`]);
          if (r !== undefined) deleted.push(r.id);
          left -= 1;
        }
      }
      // Guarded by its revision: a create in this hour meanwhile rewrote it and keeps it.
      if (left === 0 && mark !== null)
        await this.#b.kv.delete(marker, { previousSeq: mark.revision }).catch(() => undefined);
    }
    return deleted;
  }

  /** The record and its revision; undefined when missing. */
  async #read(namespace: string, id: string): Promise<ReadRecord | undefined> {
    return this.#readKey(nsToken(namespace), idToken(id));
  }

  /** {@link #read} by the tokens of the record's key. */
  async #readKey(ns: string, id: string): Promise<ReadRecord | undefined> {
    for (let attempt = 0; attempt < MAX_PART_READS; attempt++) {
      const e = await this.#b.kv.get(`r.${ns}.${id}`);
      if (e === null || e.operation !== 'PUT') return undefined;
      const head = decodeHead(e.value);
      if (head.parts === undefined) return { record: head.record!, revision: e.revision };
      const record = await readParts(this.#b, ns, id, head.parts);
      if (record !== undefined) return { record, revision: e.revision, write: head.parts.write };
      // A write replaced the parts after the head was read: read the new head.
    }
    throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
      `execution record ${decodeKvNameToken(id)} changed on every one of ${MAX_PART_READS} reads`,
    ]);
  }

  /** The record a head read in a listing stands for (read again if it changed meanwhile). */
  async #resolve(ns: string, head: StoredHead): Promise<ExecutionRecord | undefined> {
    if (head.parts === undefined) return head.record;
    const id = idToken(head.id);
    return (await readParts(this.#b, ns, id, head.parts)) ?? (await this.#readKey(ns, id))?.record;
  }

  /** A record's messages; its parts under `p.<ns>.<id>.<write>.<k>`. */
  #encode(ns: string, id: string, record: ExecutionRecord): EncodedRecord {
    return this.#layout.encode(record, (write, k) => this.#b.subject(`p.${ns}.${id}.${write}.${k}`));
  }

  /** The index entries of one hour of a namespace as sort keys. */
  async #indexOfHour(ns: string, hour: number): Promise<ListKey[]> {
    const keys: ListKey[] = [];
    for (const k of await listKeys(this.#b.kv, `t.${ns}.${hour}.*.*`)) {
      const parts = k.split('.');
      const ms = Number(parts[3]);
      if (Number.isSafeInteger(ms) && parts[4]) keys.push({ ms, id: decodeKvNameToken(parts[4]) });
    }
    return keys;
  }

  /** Removes keys with their history (no tombstone left behind to accumulate). */
  async #purge(keys: readonly string[]): Promise<void> {
    for (const k of keys) await this.#b.jsm.streams.purge(this.#b.stream, { filter: this.#b.subject(k) });
  }

  /**
   * Sends the batch, again while its outcome is unknown or the server busy. Returns false when
   * the record's expected revision did not hold (unless `landedBefore` finds an earlier attempt
   * of this very batch stored).
   */
  async #commit(messages: BatchMessage[], landedBefore: () => Promise<boolean>): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await publishAtomicBatch(this.#b.nc, messages, this.#timeoutMs);
        return true;
      } catch (err) {
        if (err instanceof BatchRejectedError && err.errCode === JS_ERR.WRONG_LAST_SEQUENCE)
          return attempt > 0 && (await landedBefore());
        if (attempt >= 5 || !isRetryableBatchError(err)) throw err;
        await sleep(25 * 2 ** attempt);
      }
    }
  }
}

function nsToken(namespace: string): string {
  return subjectToken(namespace, 'namespace');
}

function idToken(id: string): string {
  return kvNameToken(id, 'execution id');
}

function createdMs(record: ExecutionRecord): number {
  const ms = Date.parse(record.createdAt);
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`createdAt ${record.createdAt} is not a valid time`]);
  return ms;
}

function keyOf(record: ExecutionRecord): ListKey {
  return { ms: createdMs(record), id: record.id };
}

function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}

function definedOnly(patch: Patch): Patch {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
