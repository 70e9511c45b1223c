/** A real S3 server (MinIO) enforcing SigV4 credentials and conditional writes. */
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
  /** Which server, e.g. `minio`. */
  kind: string;
  version: string;
}

export async function startS3(
  runDir: string,
): Promise<{ endpoint: S3Endpoint; processes: ServiceProcess[] }> {
  const bins = await requireBinaries('s3', ['S3_SERVER', 'S3_SERVER_KIND']);
  const [port, consolePort] = [await freePort(), await freePort()];
  const dataDir = join(runDir, 's3');
  mkdirSync(dataDir, { recursive: true });
  // Fresh credentials per run: tests prove the server rejects any other.
  const accessKeyId = `mcpv8${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  const proc = ServiceProcess.start({
    name: 's3',
    command: bins.S3_SERVER,
    args: [
      'server',
      dataDir,
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
      '--anonymous',
    ],
    env: {
      MINIO_ROOT_USER: accessKeyId,
      MINIO_ROOT_PASSWORD: secretAccessKey,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_CI_CD: '1',
    },
    logFile: join(runDir, 's3.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await proc.waitReady(() => httpOk(`${url}/minio/health/ready`), 30_000);
    const version = /minio-v?(.*)$/.exec(bins.S3_SERVER)?.[1] ?? 'unknown';
    return {
      endpoint: {
        url,
        region: 'us-east-1',
        accessKeyId,
        secretAccessKey,
        kind: bins.S3_SERVER_KIND,
        version,
      },
      processes: [proc],
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
