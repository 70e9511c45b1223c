/**
 * The product's cluster mode, deployed for tests and benchmarks on the harness services: the
 * chart rendered and applied (CRDs, RBAC, default RunnerPool, connection settings), the
 * controller replicas and a gateway run as local processes with their ServiceAccounts' tokens
 * and the env the chart renders for them, and a FakeKubelet running each runner pod the
 * controller creates as a local `mcp-v8 runner` process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { installChart, type ChartInstall } from './chart-install.ts';
import { freePort } from './free-port.ts';
import { kubeApi } from './kube-api.ts';
import { FakeKubelet } from './kubelet.ts';
import { s3TestClient } from './s3-client.ts';
import type { ServiceEndpoints } from './services.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ClusterDeploymentOptions {
  services: ServiceEndpoints;
  /** Warm runner pods of the default pool (default 2). */
  replicas?: number;
  executionsPerPod?: number;
  /** Controller replicas (default 2). */
  controllers?: number;
  /** Tenant namespaces (each with a ServiceAccount `agent`); default two. */
  tenants?: number;
  /** Extra env of the controllers. */
  controllerEnv?: Record<string, string>;
  /**
   * Runner image (`name:tag`) on a real node (test/harness/node/): the controller's runner pods
   * run from it there, never pulled. Without it a FakeKubelet runs each pod as a local process.
   */
  runnerImage?: string;
  /** Extra chart values (deep-merged last). */
  values?: Record<string, unknown>;
}

export interface Tenant {
  namespace: string;
  /** Bearer token of the tenant's ServiceAccount `agent`. */
  token: string;
}

export interface ClusterDeployment {
  install: ChartInstall;
  /** The fake kubelet, unless the pods run on a real node (`runnerImage`). */
  kubelet: FakeKubelet | undefined;
  /** Base URL of the gateway (REST at /api, MCP at /mcp). */
  gatewayUrl: string;
  tenants: Tenant[];
  /** Release namespace: RunnerPool, runner pods, Lease. */
  namespace: string;
  /** Running controller processes by identity. */
  controllers: Map<string, ChildProcess>;
  startController(identity: string): Promise<void>;
  /** Current holder of the controller Lease. */
  leader(): Promise<string | undefined>;
  /** Log of a controller, the gateway (`gateway`) or a runner pod. */
  logOf(name: string): string;
  close(): Promise<void>;
}

/** Lease timings short enough for a failover test, long enough for a loaded 2-core machine. */
const FAST_LEASE = {
  MCP_V8_LEASE_DURATION_MS: '4000',
  MCP_V8_LEASE_RENEW_DEADLINE_MS: '3000',
  MCP_V8_LEASE_RETRY_PERIOD_MS: '500',
};

export async function startClusterDeployment(opts: ClusterDeploymentOptions): Promise<ClusterDeployment> {
  const kube = opts.services.kube!;
  const run = randomBytes(3).toString('hex');
  const namespace = `mcpv8-cl-${run}`;
  const tenantNames = Array.from({ length: opts.tenants ?? 2 }, (_, i) => `tenant-${run}-${'abcdefgh'[i]}`);
  const dir = mkdtempSync(join(tmpdir(), 'mcpv8-cluster-'));
  const logs = new Map<string, string>();
  const children: ChildProcess[] = [];

  const install = await installChart(kube, {
    namespace,
    release: `r${run}`,
    services: opts.services,
    s3Bucket: `heaps-${run}`,
    values: {
      runnerPool: { replicas: opts.replicas ?? 2, executionsPerPod: opts.executionsPerPod ?? 1 },
      tenants: tenantNames.map((ns) => ({ namespace: ns, serviceAccounts: ['agent'] })),
      ...(opts.runnerImage && { image: runnerImageValues(opts.runnerImage) }),
      ...opts.values,
    },
  });
  await createBucket(opts, `heaps-${run}`);
  const tenants = await Promise.all(
    tenantNames.map(async (ns) => ({ namespace: ns, token: await install.tenantToken(ns, 'agent') })),
  );

  mkdirSync(join(dir, 'pods'));
  const kubelet = opts.runnerImage
    ? undefined
    : await FakeKubelet.start({
        kube,
        namespace,
        labelSelector: 'mcpv8.dev/runner-pool',
        logDir: join(dir, 'pods'),
      });

  const spawnRole = (name: string, args: string[], env: Record<string, string>): ChildProcess => {
    const file = join(dir, `${name}.log`);
    logs.set(name, file);
    const out = createWriteStream(file);
    const child = spawn(process.execPath, ['--no-node-snapshot', MAIN, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        MCPV8_TEST_SERVICE: `cluster-${name}`,
        MCP_V8_LOG_LEVEL: 'debug',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    children.push(child);
    return child;
  };
  const kubeconfigFile = (name: string, access: ChartInstall['controller']) => {
    const file = join(dir, `${name}.kubeconfig`);
    writeFileSync(file, access.kubeConfig.exportConfig(), { mode: 0o600 });
    return file;
  };

  const controllerKubeconfig = kubeconfigFile('controller', install.controller);
  const controllers = new Map<string, ChildProcess>();
  const startController = async (identity: string) => {
    const env = await install.controller.resolveEnv(identity);
    const child = spawnRole(identity, install.controller.args, {
      ...env,
      ...FAST_LEASE,
      MCP_V8_KUBECONFIG: controllerKubeconfig,
      MCP_V8_HEALTH_PORT: '0',
      // Local runner processes answer at once; real pods share two cores with everything here
      // while several start, so they get the product's default.
      ...(!opts.runnerImage && { MCP_V8_RUNNER_HEARTBEAT_TIMEOUT_MS: '3000' }),
      ...opts.controllerEnv,
    });
    controllers.set(identity, child);
    child.once('exit', () => controllers.get(identity) === child && controllers.delete(identity));
  };
  for (let i = 0; i < (opts.controllers ?? 2); i++) await startController(`controller-${run}-${i}`);

  const port = await freePort();
  const gatewayEnv = await install.gateway.resolveEnv(`gateway-${run}`);
  spawnRole('gateway', install.gateway.args, {
    ...gatewayEnv,
    MCP_V8_KUBECONFIG: kubeconfigFile('gateway', install.gateway),
    MCP_V8_HTTP_PORT: String(port),
    MCP_V8_HOST: '127.0.0.1',
  });
  const gatewayUrl = `http://127.0.0.1:${port}`;

  const deployment: ClusterDeployment = {
    install,
    kubelet,
    gatewayUrl,
    tenants,
    namespace,
    controllers,
    startController,
    leader: async () => {
      const lease = await kubeApi<{ spec?: { holderIdentity?: string } }>(
        kube,
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/mcp-v8-controller`,
      );
      return lease.status === 200 ? lease.body.spec?.holderIdentity || undefined : undefined;
    },
    logOf: (name) => {
      const file = logs.get(name);
      if (file) return readFileSync(file, 'utf8');
      return kubelet?.logOf(name) ?? '';
    },
    close: async () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? Promise.resolve()
            : new Promise<void>((r) => c.once('exit', () => r())),
        ),
      );
      await kubelet?.stop();
      await install.uninstall().catch(() => undefined);
      // The logs of the last deployment stay readable after the run (debugging a failure).
      const last = join(tmpdir(), 'mcpv8-cluster-last');
      rmSync(last, { recursive: true, force: true });
      cpSync(dir, last, { recursive: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      async () => (await fetch(`${gatewayUrl}/readyz`).catch(() => undefined))?.ok === true,
      60_000,
      'gateway ready',
    );
    await waitFor(async () => (await deployment.leader()) !== undefined, 60_000, 'a controller leads');
  } catch (err) {
    const gatewayLog = deployment.logOf('gateway').slice(-4000);
    await deployment.close();
    throw new Error(`${(err as Error).message}\n--- gateway log ---\n${gatewayLog}`, { cause: err });
  }
  return deployment;
}

/** Polls `check` until true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Chart image values running the runner from a local image that is never pulled. */
function runnerImageValues(image: string): Record<string, unknown> {
  const at = image.lastIndexOf(':');
  return { runner: { repository: image.slice(0, at), tag: image.slice(at + 1) }, pullPolicy: 'Never' };
}

async function createBucket(opts: ClusterDeploymentOptions, bucket: string): Promise<void> {
  await s3TestClient(opts.services.s3!).send(new CreateBucketCommand({ Bucket: bucket }));
}
