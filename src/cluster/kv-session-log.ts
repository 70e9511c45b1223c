/**
 * The cluster SessionLog: committed cells in a JetStream KV bucket (default `MCPV8_SESSIONS`).
 *
 * Keys (`<s>` is the session name in base64url, so any name is a valid, unambiguous token):
 *   e.<s>.<index>   one entry per committed cell, JSON; written once, with create-if-absent
 *   n.<s>           hint: an index at or below the next free one (advisory, may lag)
 *
 * Index assignment is a compare-and-set loop on the entry key itself: an append tries to
 * create `e.<s>.<i>` expecting no previous value and, when another writer took `i`, moves on
 * to the next index. Entry `i + 1` is only ever tried after `e.<s>.<i>` exists, so indexes
 * have no gaps, under any concurrency and even if a writer dies between two steps. The hint
 * spares a long session the probe from 0; it is raised after each append (CAS, never lowered).
 *
 * Costs: append = 1 read of the hint + 1 create (+1 per index lost to a concurrent append) +
 * the hint update; a page of `limit` entries = ⌈limit/256⌉ direct gets (one subject per entry);
 * listing names = one key listing of `e.*.0` (one key per session).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Mcpv8Error } from '../core/errors.ts';
import { SessionNameSchema, type SessionLog, type SessionLogEntry } from '../core/session-log.ts';
import { isWrongRevision, listKeys, openBucket, type KvBucketOptions, type OpenBucket } from './kv-bucket.ts';
import { decodeKvNameToken, kvNameToken } from './nats-tokens.ts';

export interface KvSessionLogOptions extends KvBucketOptions {
  /** Bucket name (default `MCPV8_SESSIONS`); created when missing. */
  bucket?: string;
}

/** Entries read per direct-get request when paging. */
const PAGE_WINDOW = 256;
/** An append gives up after losing this many indexes to concurrent appends in a row. */
const MAX_ATTEMPTS = 1000;

/** {@link SessionLog} on a JetStream KV bucket; create with {@link KvSessionLog.open}. */
export class KvSessionLog implements SessionLog {
  readonly #b: OpenBucket;

  static async open(nc: NatsConnection, opts: KvSessionLogOptions = {}): Promise<KvSessionLog> {
    return new KvSessionLog(await openBucket(nc, opts.bucket ?? 'MCPV8_SESSIONS', opts));
  }

  private constructor(bucket: OpenBucket) {
    this.#b = bucket;
  }

  async append(session: string, entry: Omit<SessionLogEntry, 'index'>): Promise<SessionLogEntry> {
    const s = sessionToken(session);
    let index = await this.#hint(s);
    for (let attempt = 1; ; attempt++) {
      const stored: SessionLogEntry = {
        index,
        inputHeap: entry.inputHeap,
        outputHeap: entry.outputHeap,
        code: entry.code,
        timestamp: entry.timestamp,
      };
      try {
        // previousSeq 0: stored only if the key has never been written.
        await this.#b.kv.put(`e.${s}.${index}`, JSON.stringify(stored), { previousSeq: 0 });
        await this.#raiseHint(s, index + 1);
        return stored;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
            `appending to session ${session} lost ${MAX_ATTEMPTS} races with other writers`,
          ]);
        }
        // Taken: the next free index is past it, and past what the hint says now.
        index = Math.max(index + 1, await this.#hint(s));
      }
    }
  }

  async listSessions(): Promise<string[]> {
    const keys = await listKeys(this.#b.kv, 'e.*.0');
    const names = keys.map((k) => decodeKvNameToken(k.split('.')[1] ?? ''));
    // Byte order of the UTF-8 names, as the embedded store sorts.
    return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  async list(session: string, page: { offset: number; limit: number }): Promise<SessionLogEntry[]> {
    const s = sessionToken(session);
    const out: SessionLogEntry[] = [];
    const end = page.offset + page.limit;
    for (let from = Math.max(0, page.offset); from < end; from += PAGE_WINDOW) {
      const count = Math.min(PAGE_WINDOW, end - from);
      const found = await this.#entries(s, from, count);
      // Indexes have no gaps: the first missing one is the end of the session.
      for (let i = from; i < from + count; i++) {
        const e = found.get(i);
        if (e === undefined) return out;
        out.push(e);
      }
    }
    return out;
  }

  /** Entries `from … from+count-1` that exist, by index, in one request. */
  async #entries(s: string, from: number, count: number): Promise<Map<number, SessionLogEntry>> {
    const subjects = Array.from({ length: count }, (_, i) => this.#b.subject(`e.${s}.${from + i}`));
    const found = new Map<number, SessionLogEntry>();
    try {
      const it = await this.#b.jsm.direct.getLastMessagesFor(this.#b.stream, { multi_last: subjects });
      for await (const m of it) {
        const e = m.json<SessionLogEntry>();
        found.set(e.index, {
          index: e.index,
          inputHeap: e.inputHeap,
          outputHeap: e.outputHeap,
          code: e.code,
          timestamp: e.timestamp,
        });
      }
    } catch (err) {
      // 404: none of these keys exists.
      if ((err as { code?: number }).code !== 404) throw err;
    }
    return found;
  }

  async #hint(s: string): Promise<number> {
    const e = await this.#b.kv.get(`n.${s}`);
    const n = e?.operation === 'PUT' ? Number(e.string()) : 0;
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  /**
   * Raises the hint to at least `next`. Best effort: the entry is already stored, and a hint
   * that lags only costs later appends a few probes.
   */
  async #raiseHint(s: string, next: number): Promise<void> {
    const key = `n.${s}`;
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const e = await this.#b.kv.get(key);
        const current = e?.operation === 'PUT' ? Number(e.string()) : 0;
        if (current >= next) return;
        try {
          await this.#b.kv.put(key, String(next), { previousSeq: e?.revision ?? 0 });
          return;
        } catch (err) {
          if (!isWrongRevision(err)) throw err;
        }
      }
    } catch {
      // See above: never fail an append that was stored.
    }
  }
}

/** @throws MCPV8_ERR_INPUT_INVALID for a name {@link SessionNameSchema} refuses. */
function sessionToken(session: string): string {
  const parsed = SessionNameSchema.safeParse(session);
  if (!parsed.success) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `session name ${JSON.stringify(String(session).slice(0, 80))}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    ]);
  }
  return kvNameToken(session, 'session name');
}
