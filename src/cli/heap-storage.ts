/**
 * Turns the storage flags into the HeapStore the server keeps heaps in: a directory (default
 * /tmp/mcp-v8-heaps), S3 (optionally behind a local cache), or nothing in stateless mode.
 */
import type { HeapStore } from '../core/index.ts';
import { CachedHeapStore } from '../cluster/cached-heap-store.ts';
import { S3HeapStore } from '../cluster/heap-store.ts';
import { s3Client } from '../cluster/s3-client.ts';
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
