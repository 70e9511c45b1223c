/** S3 clients for tests: one for the real server, and one for a port where nothing listens. */
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { freePort } from './free-port.ts';
import type { S3Endpoint } from './s3.ts';

/** A path-style client of the test S3 server with its credentials (overridable). */
export function s3TestClient(s3: S3Endpoint, overrides: S3ClientConfig = {}): S3Client {
  return new S3Client({
    endpoint: s3.url,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

/**
 * A client of an S3 that is down: a free port nobody listens on, one attempt, short timeouts,
 * so a failure is reported in milliseconds rather than after the SDK's retries.
 */
export async function unreachableS3Client(s3: S3Endpoint): Promise<S3Client> {
  return s3TestClient(s3, {
    endpoint: `http://127.0.0.1:${await freePort()}`,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 },
  });
}
