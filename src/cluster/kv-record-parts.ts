/**
 * How KvExecutionStore keeps a record's JSON. NATS bounds one message (`max_payload`, 1 MiB by
 * default) while a record may hold a cell of 1 Mi characters and a result of 1 MiB, so:
 *   r.<ns>.<id>                     the record itself when its JSON is small (most records), or
 *                                   else a *head* naming its parts: {"$parts":n,"write":w,…}
 *   p.<ns>.<id>.<write>.<k>         part k (0…n-1) of the JSON's UTF-8 bytes
 * The parts are written in the same atomic batch as the head that names them, and every write
 * has a fresh `write` token, so a reader never mixes two versions: after a later write replaced
 * (and purged) the parts a head names, the reader finds them gone and reads the head again.
 */
import { randomBytes } from 'node:crypto';
import type { ExecutionStatus } from '../core/api/execution.ts';
import { Mcpv8Error } from '../core/errors.ts';
import type { ExecutionRecord } from '../core/execution-store.ts';
import type { BatchMessage } from './jetstream-batch.ts';
import type { OpenBucket } from './kv-bucket.ts';

/** Largest record JSON kept inline under `r.` (also bounds what one list window reads). */
const INLINE_MAX_BYTES = 32 * 1024;
/** Bytes per part, when the server's `max_payload` allows (headers need some room besides). */
const PART_BYTES = 256 * 1024;
const HEADER_ROOM = 8 * 1024;
/** Largest record JSON stored: far above what bounded cells and results make. */
export const RECORD_MAX_BYTES = 32 << 20;

/** What a head says about the parts of one version of a record. */
export interface PartsHead {
  parts: number;
  write: string;
  bytes: number;
  id: string;
  status: ExecutionStatus;
}

/** What `r.<ns>.<id>` holds, read: the record, or the head of its parts. */
export interface StoredHead {
  id: string;
  status: ExecutionStatus;
  /** Bytes of the record's JSON. */
  bytes: number;
  record?: ExecutionRecord;
  parts?: PartsHead;
}

/** One version of a record as messages: its parts (none when inline) and what `r.` holds. */
export interface EncodedRecord {
  head: string;
  parts: BatchMessage[];
}

/** Sizes for a server whose messages carry at most `maxPayload` bytes. */
export class RecordLayout {
  readonly partBytes: number;
  readonly inlineBytes: number;

  constructor(maxPayload: number) {
    this.partBytes = Math.max(1024, Math.min(PART_BYTES, maxPayload - HEADER_ROOM));
    this.inlineBytes = Math.min(INLINE_MAX_BYTES, this.partBytes);
  }

  /**
   * The messages of `record`; `partKey(write, k)` names part k's subject.
   * @throws MCPV8_ERR_INPUT_INVALID for a record larger than {@link RECORD_MAX_BYTES}.
   */
  encode(record: ExecutionRecord, partKey: (write: string, k: number) => string): EncodedRecord {
    const json = JSON.stringify(record);
    const body = Buffer.from(json, 'utf8');
    if (body.length <= this.inlineBytes) return { head: json, parts: [] };
    if (body.length > RECORD_MAX_BYTES) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
        `execution ${record.id}: a record of ${body.length} bytes is larger than the store keeps (${RECORD_MAX_BYTES})`,
      ]);
    }
    const write = randomBytes(8).toString('hex');
    const parts: BatchMessage[] = [];
    for (let at = 0; at < body.length; at += this.partBytes) {
      parts.push({ subject: partKey(write, parts.length), payload: body.subarray(at, at + this.partBytes) });
    }
    const head: { $parts: number } & Omit<PartsHead, 'parts'> = {
      $parts: parts.length,
      write,
      bytes: body.length,
      id: record.id,
      status: record.status,
    };
    return { head: JSON.stringify(head), parts };
  }
}

/** Reads what `r.<ns>.<id>` holds. */
export function decodeHead(data: Uint8Array): StoredHead {
  const value = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  if (typeof value !== 'object' || value === null || !('$parts' in value)) {
    const record = value as unknown as ExecutionRecord;
    return { id: record.id, status: record.status, bytes: data.length, record };
  }
  const { $parts, write, bytes, id, status } = value;
  if (
    !Number.isSafeInteger($parts) ||
    ($parts as number) < 1 ||
    typeof write !== 'string' ||
    !/^[0-9a-f]{16}$/.test(write) ||
    !Number.isSafeInteger(bytes) ||
    typeof id !== 'string' ||
    typeof status !== 'string'
  ) {
    throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', ['a stored execution record head is malformed']);
  }
  const parts: PartsHead = {
    parts: $parts as number,
    write,
    bytes: bytes as number,
    id,
    status: status as ExecutionStatus,
  };
  return { id, status: parts.status, bytes: parts.bytes, parts };
}

/**
 * The record from the parts a head names, given as (k, bytes) in any order; undefined when one
 * is missing (a later write replaced them).
 */
export function joinParts(
  head: PartsHead,
  found: ReadonlyMap<number, Uint8Array>,
): ExecutionRecord | undefined {
  const chunks: Uint8Array[] = [];
  for (let k = 0; k < head.parts; k++) {
    const part = found.get(k);
    if (part === undefined) return undefined;
    chunks.push(part);
  }
  const body = Buffer.concat(chunks);
  if (body.length !== head.bytes) {
    throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
      `the stored parts of execution ${head.id} are malformed`,
    ]);
  }
  return JSON.parse(body.toString('utf8')) as ExecutionRecord;
}

/**
 * What these `r.` keys hold, by key, in one request (missing ones left out): records, and the
 * heads of large ones, whose parts are read only for the records a caller keeps.
 */
export async function readHeads(b: OpenBucket, keys: readonly string[]): Promise<Map<string, StoredHead>> {
  const found = new Map<string, StoredHead>();
  if (keys.length === 0) return found;
  const prefix = b.subject('');
  try {
    const it = await b.jsm.direct.getLastMessagesFor(b.stream, { multi_last: keys.map((k) => b.subject(k)) });
    for await (const m of it) {
      if (m.data.length === 0) continue;
      found.set(m.subject.slice(prefix.length), decodeHead(m.data));
    }
  } catch (err) {
    // 404: none of these keys exists.
    if ((err as { code?: number }).code !== 404) throw err;
  }
  return found;
}

/**
 * The record from the parts a head under `r.<ns>.<id>` names, in one request; undefined when
 * they are gone (a later write replaced them).
 */
export async function readParts(
  b: OpenBucket,
  ns: string,
  id: string,
  head: PartsHead,
): Promise<ExecutionRecord | undefined> {
  const prefix = b.subject(`p.${ns}.${id}.${head.write}.`);
  const found = new Map<number, Uint8Array>();
  try {
    const it = await b.jsm.direct.getLastMessagesFor(b.stream, {
      multi_last: Array.from({ length: head.parts }, (_, k) => `${prefix}${k}`),
    });
    for await (const m of it) found.set(Number(m.subject.slice(prefix.length)), m.data);
  } catch (err) {
    // 404: none of the parts exists any more.
    if ((err as { code?: number }).code !== 404) throw err;
  }
  return joinParts(head, found);
}
