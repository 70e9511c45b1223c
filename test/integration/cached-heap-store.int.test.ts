// CachedHeapStore over the real S3 server: the HeapStore contract, heaps served from the cache
// while S3 is down, and the storage flags end to end (credentials from the AWS environment).
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { openHeapStore } from '../../src/cli/heap-storage.ts';
import { CachedHeapStore } from '../../src/cluster/cached-heap-store.ts';
import { S3HeapStore } from '../../src/cluster/heap-store.ts';
import { isMcpv8Error } from '../../src/core/index.ts';
import { heapStoreContract, sampleNode } from '../contract/heap-store.contract.ts';
import { s3TestClient, unreachableS3Client } from '../harness/s3-client.ts';

const s3 = inject('services').s3!;
const bucket = `cached-${randomBytes(4).toString('hex')}`;
const client = s3TestClient(s3);
const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'heap-cache-int-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let n = 0;
const s3Store = (prefix = `c${++n}/`) => new S3HeapStore({ client, bucket, prefix });
heapStoreContract(
  'CachedHeapStore over S3',
  async () => new CachedHeapStore({ remote: s3Store(), dir: newDir(), maxBytes: 1 << 20 }),
  {
    makeUnavailableStore: async () =>
      new CachedHeapStore({
        remote: new S3HeapStore({ client: await unreachableS3Client(s3), bucket }),
        dir: newDir(),
        maxBytes: 1 << 20,
      }),
  },
);

describe('CachedHeapStore over S3', () => {
  it('serves cached heaps while S3 is unreachable, and only those', async () => {
    const dir = newDir();
    const online = new CachedHeapStore({ remote: s3Store('offline/'), dir, maxBytes: 1 << 20 });
    const id = await online.put(sampleNode('var cached = 1'));
    const uncached = await s3Store('offline/').put(sampleNode('var remote = 1'));

    const down = new S3HeapStore({ client: await unreachableS3Client(s3), bucket, prefix: 'offline/' });
    const offline = new CachedHeapStore({ remote: down, dir, maxBytes: 1 << 20 });
    expect(await offline.get(id)).toEqual(sampleNode('var cached = 1'));
    expect(await offline.has(id)).toBe(true);
    const err = await offline.get(uncached).catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
  });

  it('is what the storage flags build, with credentials from the AWS environment', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
    try {
      const dir = newDir();
      const config = loadConfig(
        [
          ...['--s3-bucket', bucket, '--s3-prefix', 'flags/', '--s3-endpoint', s3.url],
          ...['--s3-region', s3.region, '--s3-force-path-style', '--cache-dir', dir, '--cache-max-mb', '1'],
        ],
        {},
      ) as Config;
      const store = openHeapStore(config.storage)!;
      expect(store).toBeInstanceOf(CachedHeapStore);
      const id = await store.put(sampleNode('var viaFlags = 1'));
      expect(await store.get(id)).toEqual(sampleNode('var viaFlags = 1'));
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `flags/${id}.json` }));
      expect(head.ContentType).toBe('application/json');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
