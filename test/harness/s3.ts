/**
 * A real S3 server enforcing SigV4 credentials and conditional writes: the Versity S3 Gateway
 * (versitygw) over a local directory, one process in single-account mode.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinaries } from './binaries.ts';
import { freePort } from './free-port.ts';
import { httpOk } from './http-probe.ts';
import { ServiceProcess } from './service-process.ts';

export interface S3Endpoint {
  /** Endpoint URL for path-style requests, e.g. `http://127.0.0.1:9000`. */
  url: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Which server, e.g. `versitygw`. */
  kind: string;
  version: string;
}

/** Unauthenticated readiness path; `_` cannot start a bucket name, so no bucket shadows it. */
const HEALTH_PATH = '/_health';
const REGION = 'us-east-1';

/**
 * Starts the server on a free port of `host` (default loopback; the real node's pods need the
 * bridge address) with a data directory under `runDir`.
 */
export async function startS3(
  runDir: string,
  host = '127.0.0.1',
): Promise<{ endpoint: S3Endpoint; processes: ServiceProcess[] }> {
  const bins = await requireBinaries('s3', ['S3_SERVER', 'S3_SERVER_KIND', 'S3_SERVER_VERSION']);
  const port = await freePort();
  const dataDir = join(runDir, 's3');
  mkdirSync(dataDir, { recursive: true });
  // Fresh credentials per run: tests prove the server rejects any other.
  const accessKeyId = `mcpv8${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const proc = ServiceProcess.start({
    name: 's3',
    command: bins.S3_SERVER,
    args: [
      ...['--port', `${host}:${port}`, '--region', REGION],
      ...['--health', HEALTH_PATH, '--quiet', 'posix', dataDir],
    ],
    // Credentials by environment, not argv, so they do not show in a process listing.
    env: { ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
    logFile: join(runDir, 's3.log'),
  });
  const url = `http://${host}:${port}`;
  try {
    await proc.waitReady(() => httpOk(`${url}${HEALTH_PATH}`), 30_000);
    return {
      endpoint: {
        url,
        region: REGION,
        accessKeyId,
        secretAccessKey,
        kind: bins.S3_SERVER_KIND,
        version: bins.S3_SERVER_VERSION,
      },
      processes: [proc],
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
