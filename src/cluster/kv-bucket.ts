/**
 * Opening the JetStream KV buckets of the cluster stores, and the few reads they share that
 * the KV client does not offer directly (key listing into an array, several keys in one
 * request).
 */
import { JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureStream, JS_ERR } from './jetstream-batch.ts';
import { assertBucketName } from './nats-tokens.ts';

export interface KvBucketOptions {
  /** Stream replicas when the bucket is created (default 1). */
  replicas?: number;
  /** Timeout of each request to the server (default 10 s). */
  timeoutMs?: number;
}

/** An open bucket and what is needed to address its stream directly. */
export interface OpenBucket {
  nc: NatsConnection;
  kv: KV;
  jsm: JetStreamManager;
  /** The bucket's stream, `KV_<bucket>`. */
  stream: string;
  /** Subject of a key: `$KV.<bucket>.<key>`. */
  subject(key: string): string;
}

/**
 * Creates the bucket (one value per key) or opens it as configured; with `atomic`, also
 * enables atomic batches on its stream so several keys can change together.
 */
export async function openBucket(
  nc: NatsConnection,
  bucket: string,
  opts: KvBucketOptions & { atomic?: boolean } = {},
): Promise<OpenBucket> {
  assertBucketName(bucket);
  const timeout = opts.timeoutMs ?? 10_000;
  const kvm = new Kvm(nc);
  const kv = await kvm
    .create(bucket, { history: 1, replicas: opts.replicas ?? 1, timeout })
    .catch(async (err: unknown) => {
      // Already there with another configuration (e.g. more history): use it as it is.
      if (err instanceof JetStreamApiError) return kvm.open(bucket, { timeout });
      throw err;
    });
  const jsm = await jetstreamManager(nc, { timeout });
  const stream = `KV_${bucket}`;
  if (opts.atomic === true) await ensureStream(jsm, { name: stream, allow_atomic: true });
  return { nc, kv, jsm, stream, subject: (key) => `$KV.${bucket}.${key}` };
}

/** Every live key matching `filter` (deleted keys excluded); order unspecified. */
export async function listKeys(kv: KV, filter: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  return keys;
}

/** True for the error of a write whose expected revision did not hold. */
export function isWrongRevision(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JS_ERR.WRONG_LAST_SEQUENCE;
}
