// S3HeapStore against the real S3 server: the HeapStore contract, plus corruption detection,
// write-once semantics that rely on the server enforcing If-None-Match, and infrastructure
// failures (down, refused credentials, missing bucket) reported as HEAP_STORE_UNAVAILABLE.
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalJson, isMcpv8Error } from '../../src/core/index.ts';
import { S3HeapStore } from '../../src/cluster/heap-store.ts';
import { errorsOfEveryOperation, heapStoreContract, sampleNode } from '../contract/heap-store.contract.ts';
import { s3TestClient, unreachableS3Client } from '../harness/s3-client.ts';

const s3 = inject('services').s3!;
const bucket = `heaps-${randomBytes(4).toString('hex')}`;
const client = s3TestClient(s3);

beforeAll(async () => {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});

let n = 0;
heapStoreContract('S3HeapStore', async () => new S3HeapStore({ client, bucket, prefix: `t${++n}/` }), {
  makeUnavailableStore: async () => new S3HeapStore({ client: await unreachableS3Client(s3), bucket }),
});

describe('S3HeapStore', () => {
  it('detects a stored heap whose content was changed', async () => {
    const store = new S3HeapStore({ client, bucket, prefix: 'corrupt/' });
    const id = await store.put(sampleNode());
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: `corrupt/${id}.json`,
        Body: canonicalJson({ ...sampleNode(), cell: { code: 'evil()', language: 'javascript' } }),
      }),
    );
    const err = await store.get(id).catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_CORRUPT')).toBe(true);
  });

  it('reports an unreachable server as HEAP_STORE_UNAVAILABLE within a second', async () => {
    const store = new S3HeapStore({ client: await unreachableS3Client(s3), bucket });
    const started = Date.now();
    const err = await store.get('1'.repeat(64)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toBe('the heap store is unavailable: S3 GET failed (ECONNREFUSED)');
  });

  it('reports refused credentials as HEAP_STORE_UNAVAILABLE without revealing them', async () => {
    const secretAccessKey = `secret-${randomBytes(12).toString('hex')}`;
    const store = new S3HeapStore({
      client: s3TestClient(s3, { credentials: { accessKeyId: s3.accessKeyId, secretAccessKey } }),
      bucket,
    });
    for (const err of await errorsOfEveryOperation(store)) {
      expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(
        /^the heap store is unavailable: S3 (PUT|GET|HEAD) answered 403 /,
      );
      expect(
        JSON.stringify({ message: (err as Error).message, details: (err as { details: unknown }).details }),
      ).not.toContain(secretAccessKey);
    }
  });

  it('reports a missing bucket as HEAP_STORE_UNAVAILABLE, not as a missing heap', async () => {
    const store = new S3HeapStore({ client, bucket: `${bucket}-absent` });
    const err = await store.get('1'.repeat(64)).catch((e: unknown) => e);
    expect(isMcpv8Error(err, 'MCPV8_ERR_HEAP_STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain('404 NoSuchBucket');
  });
});
