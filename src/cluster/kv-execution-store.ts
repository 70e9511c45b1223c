/**
 * An ExecutionStore in a JetStream KV bucket (default `MCPV8_EXECUTIONS`): the records of several
 * embedded nodes sharing one NATS server.
 *
 * Keys (`<ns>` is the namespace as a {@link subjectToken}, `<id>` the id as a {@link kvNameToken},
 * `<hour>` the creation hour in hours since the epoch, `<ms>` the creation time in epoch ms):
 *   r.<ns>.<id>                the record, JSON
 *   t.<ns>.<hour>.<ms>.<id>    list index entry, empty; written with the record, never changed
 *                              (creation time never changes), removed with it
 *   h.<ns>.<hour>              marker: the namespace has index entries in this hour
 *   u.<ns>.<id>                the record is unfinished (queued or running)
 *
 * A create is one atomic batch (index entry, hour marker, unfinished mark, then the record
 * expecting no previous value), so a duplicate id stores nothing and a crash never leaves a
 * record that lists cannot see. A transition is compare-and-set on the record's revision, in
 * the same batch as the removal of its unfinished mark when it ends; a lost race re-reads the
 * record and re-checks `from`.
 *
 * Costs: get = 1 KV get; transition = 1 get + 1 batch per attempt; a page of `limit` = 1 key
 * listing of the namespace's hour markers (≤ one per hour that has records, so bounded by the
 * retention), then per hour visited from the cursor backwards 1 key listing of that hour's index
 * entries and ⌈n/256⌉ direct batch gets of their records until `limit + 1` match. Unfiltered, a
 * page reads about `limit` records plus the rest of one hour's keys; with a status filter it
 * reads the records of every hour it crosses until enough match. listUnfinished = 1 key listing
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
const DEL = Object.freeze({ 'KV-Operation': 'DEL' });

type Patch = Parameters<ExecutionStore['transition']>[3];

/** {@link ExecutionStore} on a JetStream KV bucket; create with {@link KvExecutionStore.open}. */
export class KvExecutionStore implements ExecutionStore {
  readonly #b: OpenBucket;
  readonly #timeoutMs: number;

  /** Opens (or creates) the bucket and enables atomic batches on its stream. */
  static async open(nc: NatsConnection, opts: KvExecutionStoreOptions = {}): Promise<KvExecutionStore> {
    const bucket = await openBucket(nc, opts.bucket ?? 'MCPV8_EXECUTIONS', { ...opts, atomic: true });
    return new KvExecutionStore(bucket, opts.timeoutMs ?? 10_000);
  }

  private constructor(bucket: OpenBucket, timeoutMs: number) {
    this.#b = bucket;
    this.#timeoutMs = timeoutMs;
  }

  async create(record: ExecutionRecord, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const ms = createdMs(record);
    const ns = nsToken(record.namespace);
    const id = idToken(record.id);
    const body = JSON.stringify(record);
    const messages: BatchMessage[] = [
      { subject: this.#b.subject(`t.${ns}.${hourOf(ms)}.${ms}.${id}`) },
      { subject: this.#b.subject(`h.${ns}.${hourOf(ms)}`) },
      ...(TERMINAL_STATUSES.has(record.status) ? [] : [{ subject: this.#b.subject(`u.${ns}.${id}`) }]),
      {
        subject: this.#b.subject(`r.${ns}.${id}`),
        payload: Buffer.from(body),
        headers: { 'Nats-Expected-Last-Subject-Sequence': '0' },
      },
    ];
    const landed = await this.#commit(messages, async () => {
      // An attempt whose answer was lost may have stored this very record.
      const e = await this.#b.kv.get(`r.${ns}.${id}`);
      return e?.operation === 'PUT' && e.string() === body;
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
      const body = JSON.stringify(next);
      const ends = TERMINAL_STATUSES.has(next.status) && !TERMINAL_STATUSES.has(current.record.status);
      const messages: BatchMessage[] = [
        ...(ends ? [{ subject: this.#b.subject(`u.${ns}.${key}`), headers: DEL }] : []),
        {
          subject: this.#b.subject(`r.${ns}.${key}`),
          payload: Buffer.from(body),
          headers: { 'Nats-Expected-Last-Subject-Sequence': String(current.revision) },
        },
      ];
      const landed = await this.#commit(messages, async () => {
        const e = await this.#b.kv.get(`r.${ns}.${key}`);
        return e?.operation === 'PUT' && e.string() === body;
      });
      if (landed) return next;
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
    const items: ExecutionRecord[] = [];
    for (const hour of hours) {
      signal?.throwIfAborted();
      const keys = (await this.#indexOfHour(ns, hour))
        .filter((k) => after === undefined || compareNewestFirst(after, k) < 0)
        .sort(compareNewestFirst);
      for (let i = 0; i < keys.length && items.length <= limit; i += READ_WINDOW) {
        const window = keys.slice(i, i + READ_WINDOW);
        const found = await this.#records(window.map((k) => `r.${ns}.${idToken(k.id)}`));
        for (const k of window) {
          const r = found.get(k.id);
          // Missing: deleted after the listing.
          if (r !== undefined && (status === undefined || r.status === status) && items.length <= limit)
            items.push(r);
        }
      }
      if (items.length > limit) break;
    }
    // `limit` records at most, and no more bytes than a page may carry.
    const fill = new PageFill<ExecutionRecord>(limit);
    for (const r of items) if (!fill.add(r, JSON.stringify(r).length)) break;
    const last = fill.items.at(-1);
    if (!fill.more || last === undefined) return { items: fill.items };
    return { items: fill.items, nextCursor: encodeCursor({ ms: createdMs(last), id: last.id }) };
  }

  async listUnfinished(signal?: AbortSignal): Promise<ExecutionRecord[]> {
    signal?.throwIfAborted();
    const keys = await listKeys(this.#b.kv, 'u.>');
    const records: ExecutionRecord[] = [];
    for (let i = 0; i < keys.length; i += READ_WINDOW) {
      const found = await this.#records(keys.slice(i, i + READ_WINDOW).map((k) => `r.${k.slice(2)}`));
      // A mark can outlive its record's end by a crash between writes; the status decides.
      for (const r of found.values()) if (!TERMINAL_STATUSES.has(r.status)) records.push(r);
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
        const found = await this.#records(window.map((k) => `r.${ns}.${idToken(k.id)}`));
        for (const k of window) {
          const r = found.get(k.id);
          const done =
            r !== undefined &&
            TERMINAL_STATUSES.has(r.status) &&
            r.completedAt !== undefined &&
            r.completedAt < before;
          // No record: a deletion stopped half-way; finish it.
          if (r !== undefined && !done) continue;
          await this.#purge([`r.${ns}.${idToken(k.id)}`, `u.${ns}.${idToken(k.id)}`]);
          await this.#purge([`t.${ns}.${hour}.${k.ms}.${idToken(k.id)}`]);
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
  async #read(
    namespace: string,
    id: string,
  ): Promise<{ record: ExecutionRecord; revision: number } | undefined> {
    const e = await this.#b.kv.get(`r.${nsToken(namespace)}.${idToken(id)}`);
    if (e === null || e.operation !== 'PUT') return undefined;
    return { record: e.json<ExecutionRecord>(), revision: e.revision };
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

  /** The stored records under these keys, by id, in one request (missing ones left out). */
  async #records(keys: readonly string[]): Promise<Map<string, ExecutionRecord>> {
    const found = new Map<string, ExecutionRecord>();
    if (keys.length === 0) return found;
    try {
      const it = await this.#b.jsm.direct.getLastMessagesFor(this.#b.stream, {
        multi_last: keys.map((k) => this.#b.subject(k)),
      });
      for await (const m of it) {
        if (m.data.length === 0) continue;
        const r = m.json<ExecutionRecord>();
        found.set(r.id, r);
      }
    } catch (err) {
      // 404: none of these keys exists.
      if ((err as { code?: number }).code !== 404) throw err;
    }
    return found;
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
