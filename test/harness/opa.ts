/** A real OPA 1.x server; tests load their own policies through its REST API. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinaries } from './binaries.ts';
import { freePort } from './free-port.ts';
import { httpOk } from './http-probe.ts';
import { ServiceProcess } from './service-process.ts';

export interface OpaEndpoint {
  /** Base URL, e.g. `http://127.0.0.1:8181`; policies go to `PUT /v1/policies/<id>`. */
  url: string;
  /** Path of the `opa` binary, for tests that compile or evaluate policies offline. */
  binary: string;
  version: string;
}

export async function startOpa(
  runDir: string,
): Promise<{ endpoint: OpaEndpoint; processes: ServiceProcess[] }> {
  const { OPA } = await requireBinaries('opa', ['OPA']);
  const port = await freePort();
  const proc = ServiceProcess.start({
    name: 'opa',
    command: OPA,
    args: ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', '--disable-telemetry'],
    logFile: join(runDir, 'opa.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await proc.waitReady(() => httpOk(`${url}/health`), 15_000);
    const { stdout } = await promisify(execFile)(OPA, ['version']);
    const version = /^Version:\s*(\S+)/m.exec(stdout)?.[1] ?? 'unknown';
    return { endpoint: { url, binary: OPA, version }, processes: [proc] };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
