/**
 * Starts the real services of the integration suite (NATS JetStream, S3, OPA, a Kubernetes
 * control plane) on free 127.0.0.1 ports, each in its own process group, and records every
 * process in a run file so that `services:down` can stop what a crashed run left behind.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceName } from './binaries.ts';
import { startKube, type KubeEndpoint } from './kube.ts';
import { startNats, type NatsEndpoint } from './nats.ts';
import { startOpa, type OpaEndpoint } from './opa.ts';
import { startS3, type S3Endpoint } from './s3.ts';
import {
  isGroupAlive,
  stopGroup,
  type ServiceProcess,
  type ServiceProcessRecord,
} from './service-process.ts';

/** Everything a test needs to reach the services; JSON-serialisable (vitest `provide`). */
export interface ServiceEndpoints {
  runDir: string;
  nats?: NatsEndpoint;
  s3?: S3Endpoint;
  opa?: OpaEndpoint;
  kube?: KubeEndpoint;
}

/** What a run file holds. */
export interface ServiceRun {
  id: string;
  endpoints: ServiceEndpoints;
  processes: ServiceProcessRecord[];
}

export const ALL_SERVICES: readonly ServiceName[] = ['nats', 's3', 'opa', 'kube'];

export function cacheDir(): string {
  return process.env.MCPV8_CACHE_DIR ?? join(homedir(), '.cache', 'mcp-v8');
}

/** Folder of run files, one per running set of services. */
export function runsDir(): string {
  const dir = join(cacheDir(), 'run');
  mkdirSync(dir, { recursive: true });
  return dir;
}

type Started<E> = { endpoint: E; processes: ServiceProcess[] };
const starters: {
  [K in ServiceName]: (runDir: string, host?: string) => Promise<Started<NonNullable<ServiceEndpoints[K]>>>;
} = {
  nats: startNats,
  s3: startS3,
  opa: startOpa,
  kube: startKube,
};

/**
 * Starts the named services (all by default) and writes the run file `<runs>/<id>.json`.
 * On any failure every service already started is stopped before the error is thrown.
 * `dataHost` is where NATS and S3 listen (loopback by default; pods of a real node reach them
 * on its bridge address).
 */
export async function startServices(
  id: string,
  only: readonly ServiceName[] = ALL_SERVICES,
  dataHost?: string,
): Promise<ServiceRun> {
  const runDir = mkdtempSync(join(tmpdir(), `mcp-v8-services-${id}-`));
  const run: ServiceRun = { id, endpoints: { runDir }, processes: [] };
  const all: ServiceProcess[] = [];
  const results = await Promise.allSettled(
    only.map(async (name) => {
      const started = await starters[name](runDir, name === 'nats' || name === 's3' ? dataHost : undefined);
      all.push(...started.processes);
      Object.assign(run.endpoints, { [name]: started.endpoint });
      // Record as we go, so a crash part-way through still leaves a run file to clean up.
      run.processes = all.map((p) => p.record);
      writeRun(run);
    }),
  );
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
  if (failures.length > 0) {
    await Promise.all(all.map((p) => p.stop()));
    removeRun(run);
    throw new AggregateError(failures, failures.map((e) => e.message).join('\n---\n'));
  }
  writeRun(run);
  return run;
}

/** Records more processes of a run (started beside its services) so services:down stops them too. */
export function addToRun(run: ServiceRun, processes: readonly ServiceProcess[]): void {
  run.processes.push(...processes.map((p) => p.record));
  writeRun(run);
}

/** Stops every process of a run (SIGTERM, then SIGKILL) and removes its files. */
export async function stopRun(run: ServiceRun, graceMs = 5000): Promise<void> {
  await Promise.all(run.processes.map((p) => stopGroup(p.pid, graceMs)));
  removeRun(run);
}

export function readRuns(): ServiceRun[] {
  const dir = runsDir();
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(dir, f), 'utf8')) as ServiceRun];
      } catch {
        return [];
      }
    });
}

/** True when every recorded process of the run is still alive. */
export function isRunAlive(run: ServiceRun): boolean {
  return run.processes.length > 0 && run.processes.every((p) => isGroupAlive(p.pid));
}

function writeRun(run: ServiceRun): void {
  writeFileSync(join(runsDir(), `${run.id}.json`), JSON.stringify(run, null, 2));
}

function removeRun(run: ServiceRun): void {
  rmSync(join(runsDir(), `${run.id}.json`), { force: true });
  rmSync(run.endpoints.runDir, { recursive: true, force: true });
}
