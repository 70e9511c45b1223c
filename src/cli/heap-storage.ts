/**
 * Turns the storage flags into the HeapStore the server keeps heaps in: a directory (default
 * /tmp/mcp-v8-heaps), S3 (optionally behind a local cache), or nothing in stateless mode.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { HeapStore } from '../core/index.ts';
import { CachedHeapStore } from '../cluster/cached-heap-store.ts';
import { S3HeapStore } from '../cluster/heap-store.ts';
import { DirHeapStore } from '../local/heap-store.ts';
import type { Config } from './config.ts';

/** The configured heap store; undefined in stateless mode. */
export function openHeapStore(storage: Config['storage']): HeapStore | undefined {
  switch (storage.kind) {
    case 'stateless':
      return undefined;
    case 'directory':
      return new DirHeapStore(storage.path);
    case 's3': {
      const s3 = new S3HeapStore({
        client: s3Client(storage),
        bucket: storage.bucket,
        prefix: storage.prefix,
      });
      return storage.cache ? new CachedHeapStore({ remote: s3, ...storage.cache }) : s3;
    }
  }
}

/** An S3 client for the flags; credentials come from the SDK's default chain (AWS_* env, profile, IMDS). */
export function s3Client(storage: Extract<Config['storage'], { kind: 's3' }>): S3Client {
  return new S3Client({
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    ...(storage.endpoint !== undefined && { endpoint: storage.endpoint }),
    // Heap content is verified by its SHA-256 id; the SDK's default extra checksums add nothing
    // and are refused by some S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // An unreachable S3 must become a retryable error in seconds, not hang an execution.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000 },
  });
}
