/**
 * Composition root of `mcp-v8 controller`: informers over Executions (tenant namespaces),
 * RunnerPools and runner pods (the controller's namespace); the Execution and RunnerPool
 * controllers; NATS dispatch to runner pods; a Lease so one replica acts at a time; health and
 * metrics on the health port. Everything it learns it re-reads from the API server and the
 * outcome stream, so a replica that takes over the Lease carries on where the last one stopped.
 */
import { CoordinationV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  EXECUTION_PLURAL,
  GROUP,
  RUNNER_POOL_PLURAL,
  VERSION,
  type Execution,
  type RunnerPool,
} from '../api/v1alpha1/index.ts';
import { connectNats, connectionSettings } from '../cluster/connection-settings.ts';
import { TenantHeapStores } from '../cluster/tenant-heap-stores.ts';
import { ExecutionApi } from '../cluster/execution-api.ts';
import { KubeExecutionStore } from '../cluster/kube-execution-store.ts';
import { ensureOutcomeStream } from '../cluster/outcome-stream.ts';
import { ClusterTenantStores } from '../cluster/cluster-tenant-stores.ts';
import { controllerConfig } from './controller-config.ts';
import { EgressTokenKey } from '../cluster/egress-token.ts';
import { EventRecorder } from './events/event-recorder.ts';
import { ExecutionMetrics } from './execution-metrics.ts';
import { executionObserver } from './execution/execution-observer.ts';
import { ExecutionReconciler } from './execution/execution-reconciler.ts';
import { RunnerPools } from './execution/runner-pools.ts';
import {
  RUNNER_POOL_LABEL,
  RunnerPodEnds,
  RunnerPoolReconciler,
  poolKeyOfPod,
  runnerPodSettingsFromEnv,
} from './runner-pool/index.ts';
import {
  Controller,
  ControllerMetrics,
  Informer,
  LeaderElector,
  Manager,
  customResourceSource,
  enqueueHandler,
  podSource,
} from './runtime/index.ts';

export interface RunningController {
  /** Resolves when the manager stops; rejects when it failed or lost the Lease. */
  done: Promise<void>;
  /** The health server's port once listening. */
  healthPort(): number | undefined;
  close(): Promise<void>;
}

/** Starts the controller. @throws MCPV8_ERR_CONFIG_INVALID for bad settings. */
export async function startController(env: NodeJS.ProcessEnv, log: Logger): Promise<RunningController> {
  const config = controllerConfig(env);
  const connections = connectionSettings(env);
  const podSettings = runnerPodSettingsFromEnv(env);
  // With an egress broker: each run carries a token the broker checks (same key on both sides).
  const egressKey = EgressTokenKey.fromEnv(env);
  const kc = new KubeConfig();
  if (config.kubeconfigPath) kc.loadFromFile(config.kubeconfigPath);
  else kc.loadFromCluster();

  const nc = await connectNats(connections.nats, `mcpv8-controller-${config.identity}`);
  const outcomes = await ensureOutcomeStream(nc, config.runner.subjectPrefix);
  const heaps =
    config.stateless || !connections.s3 ? undefined : TenantHeapStores.fromSettings(connections.s3);
  const tenants = new ClusterTenantStores({ nc, ...(heaps && { heaps }) });

  // Caches. Executions: one informer per tenant namespace, or one over all namespaces.
  const executionInformers = (config.tenantNamespaces ?? [undefined]).map(
    (namespace) =>
      new Informer<Execution>({
        kubeConfig: kc,
        source: customResourceSource<Execution>(kc, {
          group: GROUP,
          version: VERSION,
          plural: EXECUTION_PLURAL,
          namespace,
        }),
        resyncMs: 60_000,
        log,
      }),
  );
  const executionCache = {
    get: (key: string) => {
      for (const inf of executionInformers) {
        const found = inf.get(key);
        if (found) return found;
      }
      return undefined;
    },
  };
  const poolInformer = new Informer<RunnerPool>({
    kubeConfig: kc,
    source: customResourceSource<RunnerPool>(kc, {
      group: GROUP,
      version: VERSION,
      plural: RUNNER_POOL_PLURAL,
      namespace: config.namespace,
    }),
    resyncMs: 30_000,
    log,
  });
  const podInformer = new Informer<V1Pod>({
    kubeConfig: kc,
    source: podSource(kc, { namespace: config.namespace, labelSelector: RUNNER_POOL_LABEL }),
    log,
  });

  const metrics: ExecutionMetrics = new ExecutionMetrics({
    queue: () => ({ queued: pools.stats().waiting, running: reconciler.inflight() }),
    runners: () => pools.stats(),
  });
  const controllerMetrics = new ControllerMetrics(metrics.registry);
  const events = new EventRecorder({ kubeConfig: kc, instance: config.identity, log });
  const pools: RunnerPools = new RunnerPools({
    nc,
    outcomes,
    subjectPrefix: config.runner.subjectPrefix,
    heartbeatTimeoutMs: config.runner.heartbeatTimeoutMs,
    onPodChange: (poolKey) => poolController.enqueue(poolKey),
  });
  // Registered before the informers start, so it sees every pod.
  const podEnds = new RunnerPodEnds({ pods: podInformer, namespace: config.namespace });
  const store = new KubeExecutionStore({ kubeConfig: kc, fieldManager: 'mcpv8-controller' });
  const api = new ExecutionApi(kc, 'mcpv8-controller');
  const reconciler = new ExecutionReconciler({
    executions: executionCache,
    runnerPools: poolInformer,
    poolNamespace: config.namespace,
    runnerPods: podInformer,
    store,
    deleteExecution: (namespace, name, uid) => api.delete(namespace, name, { uid }),
    pools,
    podEnds,
    ...(heaps && {
      sessions: async (namespace: string) => {
        const stores = await tenants.sessions(namespace);
        if (!stores) throw new Error('sessions are not kept');
        return stores;
      },
    }),
    observer: executionObserver(events, metrics),
    requeue: (key) => executionController.enqueue(key),
    log,
    ...(egressKey && { egressKey }),
  });
  const executionController: Controller = new Controller({
    name: 'execution',
    reconciler,
    concurrency: config.executionWorkers,
    metrics: controllerMetrics,
    log,
  });
  const poolController: Controller = new Controller({
    name: 'runnerpool',
    reconciler: new RunnerPoolReconciler({
      kubeConfig: kc,
      pods: podInformer,
      pools: poolInformer,
      settings: podSettings,
      hooks: {
        readyRunners: (key) => pools.readyRunners(key),
        retiredFor: (pod) => pools.retiredFor(pod),
        onMembers: (key, names) =>
          pools.setMembers(key, names, poolInformer.get(key)?.spec.executionsPerPod ?? 1),
      },
      events,
      metrics,
      log,
    }),
    concurrency: 2,
    metrics: controllerMetrics,
    log,
  });
  for (const inf of executionInformers) inf.addEventHandler(enqueueHandler(executionController));
  poolInformer.addEventHandler(enqueueHandler(poolController));
  // A pod change is a change of its pool; a pool that just got a ready runner may start work.
  podInformer.addEventHandler(enqueueHandler(poolController, (pod) => poolKeyOfPod(pod)));

  const manager = new Manager({
    informers: [...executionInformers, poolInformer, podInformer],
    // The reconciler too: it stops sending runs before the Lease is released.
    controllers: [executionController, poolController, reconciler],
    ...(config.leaderElection && {
      leaderElector: new LeaderElector({
        client: kc.makeApiClient(CoordinationV1Api),
        namespace: config.namespace,
        name: config.leaderElection.lease,
        identity: config.identity,
        leaseDurationMs: config.leaderElection.durationMs,
        renewDeadlineMs: config.leaderElection.renewDeadlineMs,
        retryPeriodMs: config.leaderElection.retryPeriodMs,
        log,
      }),
    }),
    healthPort: config.healthPort,
    registry: metrics.registry,
    log,
  });
  const stop = new AbortController();
  const done = manager.start(stop.signal).finally(async () => {
    // Whatever runs keeps running on its pods; the next leader adopts it.
    reconciler.stopAll();
    await pools.close({ leaveRunning: true });
    await events.close();
    await nc.drain().catch(() => undefined);
  });
  log.info({ identity: config.identity, namespace: config.namespace }, 'controller started');
  return {
    done,
    healthPort: () => manager.healthPort(),
    close: async () => {
      stop.abort();
      await done.catch(() => undefined);
    },
  };
}
