/**
 * Creates the heap bucket in the kind run's S3 server (test/e2e/kind/s3.yaml): scripts/e2e-kind.sh
 * runs it on the host through a port-forward before it installs the chart. A bucket that already
 * exists and is ours (a kept cluster) counts as created.
 *
 * Env: S3_ENDPOINT (e.g. http://127.0.0.1:19000), S3_BUCKET, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (the server's root keys).
 */
import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  HeadBucketCommand,
  S3Client,
} from '@aws-sdk/client-s3';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`create-bucket: ${name} is not set`);
  return value;
}

const bucket = required('S3_BUCKET');
const client = new S3Client({
  endpoint: required('S3_ENDPOINT'),
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: {
    accessKeyId: required('AWS_ACCESS_KEY_ID'),
    secretAccessKey: required('AWS_SECRET_ACCESS_KEY'),
  },
  maxAttempts: 3,
});
try {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!(err instanceof BucketAlreadyOwnedByYou)) throw err;
  }
  // Proves the keys the chart will use can reach the bucket, not only create it.
  await client.send(new HeadBucketCommand({ Bucket: bucket }));
  console.log(`create-bucket: ${bucket} ready`);
} finally {
  client.destroy();
}
