// Proves the S3 server in the suite enforces what an emulator would not: SigV4 credentials
// (a wrong secret is refused) and conditional writes (If-None-Match / If-Match → 412).
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';

const s3 = inject('services').s3!;
const bucket = `smoke-${randomBytes(4).toString('hex')}`;

function client(secretAccessKey = s3.secretAccessKey): S3Client {
  return new S3Client({
    endpoint: s3.url,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode ?? 0;
    throw err;
  }
}

beforeAll(async () => {
  await client().send(new CreateBucketCommand({ Bucket: bucket }));
});

describe(`S3 (real server: ${s3.kind})`, () => {
  it('stores and lists objects', async () => {
    const c = client();
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'heaps/a', Body: 'journal-a' }));
    const got = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'heaps/a' }));
    expect(await got.Body?.transformToString()).toBe('journal-a');
    const list = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'heaps/' }));
    expect(list.Contents?.map((o) => o.Key)).toEqual(['heaps/a']);
  });

  it('refuses If-None-Match: * on an existing key with 412 and keeps the first write', async () => {
    const c = client();
    const put = (body: string) =>
      c.send(new PutObjectCommand({ Bucket: bucket, Key: 'once', Body: body, IfNoneMatch: '*' }));
    expect(await statusOf(put('first'))).toBe(200);
    expect(await statusOf(put('second'))).toBe(412);
    const got = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'once' }));
    expect(await got.Body?.transformToString()).toBe('first');
  });

  it('refuses If-Match with a stale ETag with 412', async () => {
    const c = client();
    const v1 = await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas', Body: 'v1' }));
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas', Body: 'v2', IfMatch: v1.ETag }));
    expect(
      await statusOf(
        c.send(new PutObjectCommand({ Bucket: bucket, Key: 'cas', Body: 'v3', IfMatch: v1.ETag })),
      ),
    ).toBe(412);
  });

  it('refuses a request signed with the wrong secret with 403', async () => {
    const status = await statusOf(
      client('not-the-secret').send(new GetObjectCommand({ Bucket: bucket, Key: 'heaps/a' })),
    );
    expect(status).toBe(403);
  });
});
