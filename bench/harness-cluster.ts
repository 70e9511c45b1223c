/**
 * The product's cluster mode on the local apiserver harness, for benchmarks: the services
 * (NATS JetStream, MinIO, kube-apiserver with etcd) and the harness deployment on them (the
 * chart applied, 2 controllers, a gateway, runner pods as local processes started by the fake
 * kubelet). Shared by bench/cluster-bench.ts and the load benchmark's `--topology cluster`.
 *
 * A live `npm run services:up` run is reused when there is one (its services stay up
 * afterwards); otherwise the services are started for this benchmark and stopped by close().
 */
import { childrenOf } from './load/server-probe.ts';
import {
  startClusterDeployment,
  waitFor,
  type ClusterDeployment,
} from '../test/harness/cluster-deployment.ts';
import { kubeApi } from '../test/harness/kube-api.ts';
import { startRealNodeEnv } from '../test/harness/node/real-node-env.ts';
import {
  isRunAlive,
  readRuns,
  startServices,
  stopRun,
  type ServiceEndpoints,
} from '../test/harness/services.ts';

export interface BenchClusterOptions {
  /** Names a services run this benchmark starts itself (a run file under the harness's runs). */
  id: string;
  /** Warm runner pods of the default pool. */
  replicas: number;
  /** 1: a pod per execution; more: pooled pods that run many executions each. */
  executionsPerPod: number;
  /** Tenant namespaces (default 1). */
  tenants?: number;
  /**
   * Run the runner pods on a real node (containerd + runc + kubelet, images built from the
   * Dockerfiles; needs root) instead of as local processes of the fake kubelet.
   */
  realNode?: boolean;
}

export interface BenchCluster {
  services: ServiceEndpoints;
  cluster: ClusterDeployment;
  /** True when the services were started for this benchmark (and close() stops them). */
  ownServices: boolean;
  /**
   * Roots of every process the deployment runs on: this process's children (controllers,
   * gateway, runner pods, and the services when started here) and a reused run's services.
   */
  processRoots(): number[];
  /** Resolves once the default RunnerPool reports `replicas` ready runner pods. */
  waitPoolReady(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBenchCluster(opts: BenchClusterOptions): Promise<BenchCluster> {
  const node = opts.realNode ? await startRealNodeEnv(`${opts.id}-${process.pid}`) : undefined;
  const reused = node
    ? undefined
    : readRuns().find((r) => isRunAlive(r) && r.endpoints.nats && r.endpoints.s3 && r.endpoints.kube);
  const run =
    node?.run ?? reused ?? (await startServices(`${opts.id}-${process.pid}`, ['nats', 's3', 'kube']));
  const stopOwn = async () => {
    if (node) await node.stop();
    else if (!reused) await stopRun(run);
  };
  let cluster: ClusterDeployment;
  try {
    cluster = await startClusterDeployment({
      services: run.endpoints,
      replicas: opts.replicas,
      executionsPerPod: opts.executionsPerPod,
      tenants: opts.tenants ?? 1,
      ...(node && { runnerImage: node.node.images.runner.name }),
    });
  } catch (err) {
    await stopOwn();
    throw err;
  }
  const kube = run.endpoints.kube!;
  const poolPath = `/apis/mcpv8.dev/v1alpha1/namespaces/${cluster.namespace}/runnerpools/default`;
  return {
    services: run.endpoints,
    cluster,
    ownServices: !reused,
    processRoots: () => [...childrenOf(process.pid), ...(reused ? reused.processes.map((p) => p.pid) : [])],
    waitPoolReady: (timeoutMs = 120_000) =>
      waitFor(
        async () => {
          const pool = await kubeApi<{ status?: { readyReplicas?: number } }>(kube, 'GET', poolPath);
          return pool.status === 200 && (pool.body.status?.readyReplicas ?? 0) >= opts.replicas;
        },
        timeoutMs,
        `${opts.replicas} ready runner pods`,
      ),
    close: async () => {
      await cluster.close();
      await stopOwn();
    },
  };
}
