// Persistent sessions with heaps in the real S3 server (credentials from the AWS environment,
// path-style endpoint), and with a local write-through cache in front of it.
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, inject, vi } from 'vitest';
import { sessionsContract } from '../contract/sessions.contract.ts';
import { s3TestClient } from '../harness/s3-client.ts';

const s3 = inject('services').s3!;
const bucket = `sessions-${randomBytes(4).toString('hex')}`;
const client = s3TestClient(s3);

beforeAll(async () => {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.secretAccessKey);
  return () => vi.unstubAllEnvs();
});

const flags = (prefix: string) => [
  '--s3-bucket',
  bucket,
  '--s3-prefix',
  prefix,
  '--s3-endpoint',
  s3.url,
  '--s3-force-path-style',
  '--s3-region',
  s3.region,
];
const overwrite = (key: string) =>
  client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '{"format":1,"parent":null}' }));

sessionsContract('S3', {
  args: () => flags('plain/'),
  corrupt: async (heap) => {
    await overwrite(`plain/${heap}.json`);
  },
});

sessionsContract('S3 with a local cache', {
  args: (root) => [...flags('cached/'), '--cache-dir', join(root, 'cache')],
  corrupt: async (heap, root) => {
    await overwrite(`cached/${heap}.json`);
    rmSync(join(root, 'cache'), { recursive: true, force: true });
  },
});
