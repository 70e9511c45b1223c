/**
 * Composition root of the cluster gateway: every MCP tool and REST route of the embedded server,
 * backed by Execution objects (KubeExecutionStore, without status writes: the controller owns
 * status), console output in JetStream, heaps in S3 and sessions in NATS KV — all per tenant
 * namespace — and callers authenticated by Kubernetes TokenReview. Never runs user code. Live
 * console notifications are not available here (the runner pods write output to JetStream; a
 * client reads it with get_execution_output).
 */
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ClusterExecutionQueue } from '../cluster/cluster-execution-queue.ts';
import { KubeExecutionStore } from '../cluster/kube-execution-store.ts';
import { requestOptions, reuseConnections } from '../cluster/kube-request.ts';
import { TenantHeapStores } from '../cluster/tenant-heap-stores.ts';
import { TokenReviewAuthenticator, kubeTokenReview } from '../gateway/auth/token-review.ts';
import { NAME_TENANTS_HINT, Tenancy, kubeNamespaceLabels } from '../gateway/auth/tenancy.ts';
import { ClusterTenantStores } from '../cluster/cluster-tenant-stores.ts';
import { ExecutionService, serverLimits } from '../gateway/execution-service.ts';
import { buildHttpApp } from '../gateway/http-app.ts';
import { SessionService } from '../gateway/session-service.ts';
import { MAX_CELL_CHARS } from '../runner/protocol.ts';
import type { ClusterGatewayConfig } from './cluster-config.ts';
import { mcpLimitOptions } from './mcp-limits-config.ts';
import { connectNats } from '../cluster/connection-settings.ts';
import { startEgressBroker, type RunningEgressBroker } from './egress-broker-runtime.ts';

/** How often the API server is probed for readiness, ms. */
const API_PROBE_MS = 10_000;

export interface ClusterGateway {
  /** Base URL of the HTTP server. */
  url: string;
  /** Base URL of the egress broker, when it is on. */
  egressUrl?: string;
  /** Stops serving, then closes the NATS connection. */
  close(): Promise<void>;
}

/** Starts the gateway; resolves once it listens (readiness follows NATS and the API server). */
export async function startClusterGateway(
  config: ClusterGatewayConfig,
  log: Logger,
): Promise<ClusterGateway> {
  const kubeConfig = new KubeConfig();
  if (config.kube.kind === 'file') kubeConfig.loadFromFile(config.kube.path);
  else kubeConfig.loadFromCluster();

  const nc = await connectNats(config.nats, 'mcp-v8-gateway');
  const natsUp = watchNats(nc, log);
  const api = probeApiServer(kubeConfig, log);

  const heaps = config.s3 && TenantHeapStores.fromSettings(config.s3);
  const tenants = new ClusterTenantStores({ nc, ...(heaps && { heaps }) });
  const store = new KubeExecutionStore({
    kubeConfig,
    fieldManager: 'mcpv8-gateway',
    writeInitialStatus: false,
  });
  const service = new ExecutionService({
    store,
    scheduler: new ClusterExecutionQueue({ kubeConfig, store }),
    tenants,
    limits: serverLimits(config.heapMemoryMaxMb, config.executionTimeoutSecs),
    maxCodeChars: MAX_CELL_CHARS,
    // Every read while waiting is an API server GET: poll gently.
    maxPollMs: 500,
  });
  const sessions = tenants.stateful ? new SessionService({ tenants }) : undefined;
  const tenancy = new Tenancy({
    tenants: config.tenants,
    namespaceLabels: config.tenantNamespaceLabels,
    readLabels: kubeNamespaceLabels(kubeConfig),
  });
  // Said once here rather than on every refusal: a gateway nobody may call is a setup mistake.
  if (!tenancy.configured) {
    log.warn(
      `no tenant is configured: every caller is refused (MCPV8_ERR_AUTH_FORBIDDEN); ${NAME_TENANTS_HINT}`,
    );
  }
  const authenticator = new TokenReviewAuthenticator({
    review: kubeTokenReview(kubeConfig, config.tokenAudiences),
    tenancy,
  });

  const app = buildHttpApp({
    service,
    sessions,
    bodyLimit: 2 * MAX_CELL_CHARS + 4096,
    isReady: () => natsUp() && api.up(),
    // Behind a Service: any Host. Browsers are not the clients here; tokens are.
    allowedHosts: [],
    allowedOrigins: [],
    authenticator,
    ...mcpLimitOptions(config.mcp),
  });
  let url: string;
  let egress: RunningEgressBroker | undefined;
  try {
    egress = config.egress && (await startEgressBroker(config.egress, config.host, log));
    url = await app.listen({ host: config.host, port: config.port }).catch(async (err: unknown) => {
      await egress?.close();
      throw err;
    });
  } catch (err) {
    api.stop();
    await nc.close();
    throw err;
  }
  log.info({ url, ...tenancy.describe(), stateful: tenants.stateful }, 'mcp-v8 cluster gateway ready');
  let closing: Promise<void> | undefined;
  return {
    url,
    ...(egress && { egressUrl: egress.url }),
    close: () =>
      (closing ??= (async () => {
        api.stop();
        await app.close();
        await egress?.close();
        await nc.drain().catch(() => nc.close());
      })()),
  };
}

/** Tracks whether NATS is connected (the client reconnects by itself). */
function watchNats(nc: NatsConnection, log: Logger): () => boolean {
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        up = false;
        log.warn('NATS disconnected');
      } else if (s.type === 'reconnect') {
        up = true;
        log.info('NATS reconnected');
      }
    }
  })().catch(() => {});
  return () => up && !nc.isClosed();
}

/** Probes the API server's /version now and then; `up()` says whether the last probe answered. */
function probeApiServer(kubeConfig: KubeConfig, log: Logger): { up(): boolean; stop(): void } {
  const version = kubeConfig.makeApiClient(VersionApi);
  const connections = reuseConnections();
  let up = false;
  const probe = async () => {
    try {
      await version.getCode({}, requestOptions(connections, { signal: AbortSignal.timeout(5_000) }));
      if (!up) log.info('Kubernetes API reachable');
      up = true;
    } catch (err) {
      if (up) log.warn({ err: (err as Error).message }, 'Kubernetes API unreachable');
      up = false;
    }
  };
  void probe();
  const timer = setInterval(() => void probe(), API_PROBE_MS);
  timer.unref();
  return { up: () => up, stop: () => clearInterval(timer) };
}
