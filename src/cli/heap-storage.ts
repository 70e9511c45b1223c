/**
 * Turns the storage flags into the HeapStore the server keeps heaps in: a directory (default
 * /tmp/mcp-v8-heaps), S3, or nothing in stateless mode.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { HeapStore } from '../core/index.ts';
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
    case 's3':
      // Credentials and region come from the standard AWS environment (env, profile, IMDS).
      return new S3HeapStore({ client: new S3Client({}), bucket: storage.bucket });
  }
}
