// S3HeapStore against the real S3 server: the HeapStore contract, plus corruption detection and
// write-once semantics that rely on the server enforcing If-None-Match.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalJson, isMcpv8Error } from '../../src/core/index.ts';
import { S3HeapStore } from '../../src/cluster/heap-store.ts';
import { heapStoreContract, sampleNode } from '../contract/heap-store.contract.ts';

const s3 = inject('services').s3!;
const bucket = `heaps-${randomBytes(4).toString('hex')}`;
const client = new S3Client({
  endpoint: s3.url,
  region: s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});

beforeAll(async () => {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
});

let n = 0;
heapStoreContract('S3HeapStore', async () => new S3HeapStore({ client, bucket, prefix: `t${++n}/` }));

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
});
