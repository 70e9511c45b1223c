/**
 * JetStream atomic batch publishing (nats-server ≥ 2.12, stream flag `allow_atomic`): every
 * message of a batch is stored, with consecutive sequences, or none is. The output log uses it
 * to store an append's chunks, index marks and tail together; the heap tag store to change a
 * heap's tags and their index entries together. Expectation headers are checked against the
 * stream as it was before the batch, when the batch commits.
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { RequestError, TimeoutError, headers, type NatsConnection } from '@nats-io/transport-node';
import { Mcpv8Error } from '../core/errors.ts';

/** JetStream API error codes the stores act on. */
export const JS_ERR = Object.freeze({
  /** `Nats-Expected-Last-Subject-Sequence` did not hold: someone else wrote first. */
  WRONG_LAST_SEQUENCE: 10071,
  /** The batch repeats a `Nats-Msg-Id` already stored: an earlier attempt landed. */
  DUPLICATE_MSG_ID: 10201,
  /** The batch was abandoned (e.g. its start was refused); nothing was stored. */
  BATCH_INCOMPLETE: 10176,
  /** Too many batches in flight on the stream or server (HTTP-like status 429). */
  TOO_MANY_INFLIGHT: 10210,
});

/** Largest batch the server accepts by default (`jetstream.limits.batch.max_msgs`). */
export const MAX_BATCH_MESSAGES = 1000;

export interface BatchMessage {
  subject: string;
  payload?: Uint8Array;
  headers?: Readonly<Record<string, string>>;
}

export interface BatchAck {
  stream: string;
  /** Sequence of the last message; the batch occupies `seq - count + 1 … seq`. */
  seq: number;
  count: number;
}

/** The server refused the batch; nothing of it was stored. */
export class BatchRejectedError extends Error {
  override readonly name = 'BatchRejectedError';
  /** JetStream `err_code`, see {@link JS_ERR}. */
  readonly errCode: number;

  constructor(errCode: number, description: string) {
    super(`JetStream refused the batch: ${description} (${errCode})`);
    this.errCode = errCode;
  }
}

/**
 * Publishes `messages` as one atomic batch and returns the commit's ack. Only the commit is a
 * request (one round trip): the other messages are plain publishes on the same connection, so
 * they reach the server before it and in order. Each call uses a fresh batch id, so a retry
 * never mixes with an attempt the server may still hold.
 * @throws BatchRejectedError when the server refuses the batch; the client's TimeoutError or
 *   RequestError when it does not answer.
 */
export async function publishAtomicBatch(
  nc: NatsConnection,
  messages: readonly BatchMessage[],
  timeoutMs: number,
): Promise<BatchAck> {
  if (messages.length === 0 || messages.length > MAX_BATCH_MESSAGES) {
    throw new RangeError(`a batch holds 1–${MAX_BATCH_MESSAGES} messages, got ${messages.length}`);
  }
  // Batch ids are at most 64 characters.
  const id = randomUUID();
  const last = messages.length - 1;
  for (let i = 0; i < last; i++) {
    const m = messages[i]!;
    nc.publish(m.subject, m.payload ?? new Uint8Array(), { headers: batchHeaders(m, id, i + 1, false) });
  }
  const m = messages[last]!;
  const reply = await nc.request(m.subject, m.payload ?? new Uint8Array(), {
    headers: batchHeaders(m, id, last + 1, true),
    timeout: timeoutMs,
  });
  const ack = reply.json<Partial<BatchAck> & { error?: { err_code?: number; description?: string } }>();
  if (ack.error !== undefined) {
    throw new BatchRejectedError(ack.error.err_code ?? 0, ack.error.description ?? 'unknown error');
  }
  if (typeof ack.seq !== 'number' || ack.count !== messages.length) {
    throw new BatchRejectedError(0, `unexpected ack ${JSON.stringify(ack)}`);
  }
  return { stream: ack.stream ?? '', seq: ack.seq, count: ack.count };
}

function batchHeaders(m: BatchMessage, id: string, seq: number, commit: boolean) {
  const h = headers();
  for (const [k, v] of Object.entries(m.headers ?? {})) h.set(k, v);
  h.set('Nats-Batch-Id', id);
  h.set('Nats-Batch-Sequence', String(seq));
  if (commit) h.set('Nats-Batch-Commit', '1');
  return h;
}

/**
 * True when the same batch may simply be sent again: no answer (it may or may not have been
 * stored; a `Nats-Msg-Id` on its first message makes the retry safe), or the server was busy.
 */
export function isRetryableBatchError(err: unknown): boolean {
  if (err instanceof TimeoutError) return true;
  if (err instanceof RequestError) return err.cause instanceof TimeoutError;
  return (
    err instanceof BatchRejectedError &&
    (err.errCode === JS_ERR.TOO_MANY_INFLIGHT || err.errCode === JS_ERR.BATCH_INCOMPLETE)
  );
}

/** Waits `ms` milliseconds, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Creates the stream, or adds what this code relies on to an existing one (atomic batches,
 * direct gets, rollups). Never removes anything an operator configured.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string; subjects?: string[] },
): Promise<void> {
  const info = await jsm.streams.info(config.name).catch((err: unknown) => {
    if ((err as { code?: number }).code === 10059) return undefined; // stream not found
    throw err;
  });
  if (info === undefined) {
    requireAtomic(config, (await jsm.streams.add(config)).config);
    return;
  }
  const current = info.config;
  const subjects = [...new Set([...(current.subjects ?? []), ...(config.subjects ?? [])])];
  const missing =
    subjects.length !== (current.subjects ?? []).length ||
    (config.allow_atomic === true && current.allow_atomic !== true) ||
    (config.allow_direct === true && current.allow_direct !== true) ||
    (config.allow_rollup_hdrs === true && current.allow_rollup_hdrs !== true);
  if (!missing) return;
  const updated = await jsm.streams.update(config.name, {
    ...current,
    subjects,
    allow_atomic: current.allow_atomic === true || config.allow_atomic === true,
    allow_direct: current.allow_direct === true || config.allow_direct === true,
    allow_rollup_hdrs: current.allow_rollup_hdrs === true || config.allow_rollup_hdrs === true,
  });
  requireAtomic(config, updated.config);
}

/** A server older than 2.12 ignores `allow_atomic`: say so now rather than on every write. */
function requireAtomic(wanted: Partial<StreamConfig>, got: StreamConfig): void {
  if (wanted.allow_atomic === true && got.allow_atomic !== true) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `stream ${got.name} does not accept atomic batches; the cluster stores need nats-server 2.12 or later`,
    ]);
  }
}
