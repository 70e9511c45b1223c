/**
 * Heaps in S3 (`--s3-bucket`): one object per journal node under `<prefix><id>.json`, written
 * with `If-None-Match: *` so an identical heap is stored once and never overwritten; content is
 * verified against its id on every read. Works with any S3-compatible server (path-style).
 * Network errors, 5xx, 403 and credential problems are MCPV8_ERR_HEAP_STORE_UNAVAILABLE.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  Mcpv8Error,
  assertHeapId,
  decodeHeapNode,
  encodeHeapNode,
  type HeapId,
  type HeapNode,
  type HeapStore,
} from '../core/index.ts';
import { errorCode, heapStoreFailure } from '../core/heap-store-failure.ts';

export interface S3HeapStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix, e.g. `heaps/` (default none). */
  prefix?: string;
}

/** A HeapStore over one S3 bucket (and key prefix). */
export class S3HeapStore implements HeapStore {
  readonly #opts: S3HeapStoreOptions;

  constructor(opts: S3HeapStoreOptions) {
    this.#opts = opts;
  }

  async put(node: HeapNode, signal?: AbortSignal): Promise<HeapId> {
    const { id, bytes } = encodeHeapNode(node);
    try {
      await this.#opts.client.send(
        new PutObjectCommand({
          Bucket: this.#opts.bucket,
          Key: this.#key(id),
          Body: bytes,
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
        { abortSignal: signal },
      );
    } catch (err) {
      // 412: the same content is already stored under this id.
      if (!(err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412))
        throw heapStoreFailure(err, s3Reason('PUT', err), signal);
    }
    return id;
  }

  async get(id: string, signal?: AbortSignal): Promise<HeapNode> {
    assertHeapId(id);
    let bytes: Uint8Array;
    try {
      const res = await this.#opts.client.send(
        new GetObjectCommand({ Bucket: this.#opts.bucket, Key: this.#key(id) }),
        { abortSignal: signal },
      );
      bytes = await res.Body!.transformToByteArray();
    } catch (err) {
      if (isNotFound(err)) throw new Mcpv8Error('MCPV8_ERR_HEAP_NOT_FOUND', [id]);
      throw heapStoreFailure(err, s3Reason('GET', err), signal);
    }
    return decodeHeapNode(id, bytes);
  }

  async has(id: string, signal?: AbortSignal): Promise<boolean> {
    assertHeapId(id);
    try {
      await this.#opts.client.send(new HeadObjectCommand({ Bucket: this.#opts.bucket, Key: this.#key(id) }), {
        abortSignal: signal,
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw heapStoreFailure(err, s3Reason('HEAD', err), signal);
    }
  }

  #key(id: HeapId): string {
    return `${this.#opts.prefix ?? ''}${id}.json`;
  }
}

/** A missing object; a missing bucket (NoSuchBucket) is a configuration problem, not a missing heap. */
function isNotFound(err: unknown): boolean {
  return (
    err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404 && err.name !== 'NoSuchBucket'
  );
}

/** Status and error name only: server messages and request details stay in `cause`, out of replies. */
function s3Reason(op: string, err: unknown): string {
  if (err instanceof S3ServiceException)
    return `S3 ${op} answered ${err.$metadata.httpStatusCode ?? '?'} ${err.name}`;
  if (err instanceof Error && err.name === 'CredentialsProviderError') return 'no AWS credentials were found';
  return `S3 ${op} failed (${errorCode(err)})`;
}
