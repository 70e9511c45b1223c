/**
 * Where the load benchmark's runs are sent, by topology:
 *   - single:  a fresh embedded server per run (see embedded-server.ts), probed as one tree;
 *   - given:   the caller's server at --url, probed when its pid is given;
 *   - cluster: one harness deployment for all runs (bench/harness-cluster.ts): the gateway's
 *              URL and the tenant's token, probed across every process of the deployment.
 * A shared server (given, cluster) is drained between runs — nothing queued or running, the
 * rest of an overloaded run's backlog cancelled — so a run does not start on another's backlog.
 */
import { startBenchCluster, type BenchCluster } from '../harness-cluster.ts';
import { startEmbeddedServer } from './embedded-server.ts';
import { needsHeaps, type ScenarioName } from './scenarios.ts';
import { ServerProbe } from './server-probe.ts';

export type Topology = 'single' | 'given' | 'cluster';

/** The server of one run. */
export interface RunServer {
  url: string;
  token?: string;
  /** Measures the server's CPU and RSS; undefined when there is nothing to probe. */
  probe?: ServerProbe;
  release(): Promise<void>;
}

export interface ServerSource {
  readonly topology: Topology;
  acquire(scenario: ScenarioName): Promise<RunServer>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function embeddedServers(extraArgs: readonly string[]): ServerSource {
  return {
    topology: 'single',
    acquire: async (scenario) => {
      const server = await startEmbeddedServer({ stateful: needsHeaps(scenario), extraArgs });
      return { url: server.url, probe: new ServerProbe(server.pid), release: () => server.stop() };
    },
    close: async () => {},
  };
}

export interface SharedServerOptions {
  /** Pause after the drain, before each run, s. */
  cooldownS: number;
  /** Longest wait for the previous run's backlog to finish before the rest is cancelled, s. */
  drainTimeoutS: number;
}

export function givenServer(
  url: string,
  opts: SharedServerOptions & { pid?: number; token?: string },
): ServerSource {
  return {
    topology: 'given',
    acquire: async () => {
      await drain(url, opts.token, opts.drainTimeoutS);
      await sleep(opts.cooldownS * 1000);
      return {
        url,
        token: opts.token,
        probe: opts.pid === undefined ? undefined : new ServerProbe(opts.pid),
        release: async () => {},
      };
    },
    close: async () => {},
  };
}

export interface ClusterServerOptions extends SharedServerOptions {
  /** Warm runner pods of the default pool. */
  replicas: number;
  /** Executions each runner pod runs before it is replaced (1 = a pod per execution). */
  executionsPerPod: number;
}

/** The harness cluster deployment, started on the first run and kept for the others. */
export function clusterServer(opts: ClusterServerOptions): ServerSource {
  let bench: BenchCluster | undefined;
  return {
    topology: 'cluster',
    acquire: async () => {
      if (bench === undefined) {
        bench = await startBenchCluster({
          id: 'bench-load',
          replicas: opts.replicas,
          executionsPerPod: opts.executionsPerPod,
        });
        await bench.waitPoolReady();
      }
      const deployment = bench;
      const { gatewayUrl, tenants } = deployment.cluster;
      const token = tenants[0]!.token;
      await drain(gatewayUrl, token, opts.drainTimeoutS);
      await deployment.waitPoolReady();
      await sleep(opts.cooldownS * 1000);
      return {
        url: gatewayUrl,
        token,
        probe: new ServerProbe(() => deployment.processRoots()),
        release: async () => {},
      };
    },
    close: async () => {
      await bench?.close();
    },
  };
}

/** The ids of the server's executions in `status` (up to `limit`). */
async function listIds(
  url: string,
  headers: Record<string, string> | undefined,
  status: string,
  limit: number,
) {
  const res = await fetch(`${url}/api/executions?status=${status}&limit=${limit}`, { headers });
  if (!res.ok) throw new Error(`drain: GET /api/executions answered ${res.status}`);
  return ((await res.json()) as { executions: { execution_id: string }[] }).executions.map(
    (e) => e.execution_id,
  );
}

/**
 * Waits until the server lists no queued or running execution. What is still there after
 * `timeoutS` — the backlog of an overloaded run, which its arrivals were already counted as
 * dropped for — is cancelled, so the next run starts on an idle server either way.
 */
async function drain(url: string, token: string | undefined, timeoutS: number): Promise<void> {
  const headers = token === undefined ? undefined : { authorization: `Bearer ${token}` };
  const busy = async () =>
    (await listIds(url, headers, 'queued', 1)).length > 0 ||
    (await listIds(url, headers, 'running', 1)).length > 0;
  const waitIdle = async (seconds: number) => {
    const deadline = performance.now() + seconds * 1000;
    while (await busy()) {
      if (performance.now() > deadline) return false;
      await sleep(500);
    }
    return true;
  };
  const started = performance.now();
  if (await waitIdle(timeoutS)) {
    const waited = (performance.now() - started) / 1000;
    if (waited > 1)
      process.stderr.write(`load-bench: waited ${waited.toFixed(1)} s for the last run's backlog\n`);
    return;
  }
  let cancelled = 0;
  for (let round = 0; round < 20 && (await busy()); round++) {
    const ids = [
      ...(await listIds(url, headers, 'queued', 1000)),
      ...(await listIds(url, headers, 'running', 1000)),
    ];
    // A few at a time: the cancels must not become the next overload.
    for (let i = 0; i < ids.length; i += 16)
      await Promise.all(
        ids.slice(i, i + 16).map(async (id) => {
          const res = await fetch(`${url}/api/executions/${id}/cancel`, { method: 'POST', headers });
          await res.body?.cancel();
          if (res.ok) cancelled++;
        }),
      );
  }
  process.stderr.write(
    `load-bench: cancelled ${cancelled} executions left after ${timeoutS} s of draining\n`,
  );
  if (!(await waitIdle(60))) process.stderr.write('load-bench: the server is still busy; measuring anyway\n');
}
