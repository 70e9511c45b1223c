/**
 * The S3 client every role uses for heaps (embedded `--s3-*` flags, the cluster gateway, the
 * controller, runner pods): one place for the timeouts and checksum settings.
 */
import { S3Client } from '@aws-sdk/client-s3';

/** Where S3 is and how to address it; credentials are never part of it. */
export interface S3Location {
  region: string;
  forcePathStyle: boolean;
  /** An S3-compatible server; AWS when absent. */
  endpoint?: string;
}

/** Heap storage in S3: where, and the bucket and key prefix. */
export interface S3Settings extends S3Location {
  bucket: string;
  /** Key prefix ('' for none). */
  prefix: string;
}

/** An S3 client for the flags; credentials come from the SDK's default chain (AWS_* env, profile, IMDS). */
export function s3Client(storage: S3Location): S3Client {
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
