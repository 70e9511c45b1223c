/**
 * kind end-to-end: the isolation the chart promises runner pods, checked on a cluster that
 * enforces it — PodSecurity admission `restricted` where runner pods and Executions live, and
 * the runner NetworkPolicy (kind's kindnet enforces NetworkPolicy). Connections are tried from
 * inside a warm runner pod the controller created, and the same ones from a gateway pod (which
 * no policy selects) to prove each forbidden destination is up and reachable without the policy.
 *
 * Needs kubectl and a kubeconfig whose current context is the cluster. scripts/e2e-kind.sh sets
 * MCP_V8_E2E_URL, MCP_V8_E2E_RELEASE_NAMESPACE (the chart's namespace: gateway, controller,
 * runner pods) and MCP_V8_E2E_TENANT_NAMESPACE (where the tenant's Executions live).
 */
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  type V1NetworkPolicy,
  type V1Pod,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { RUNNER_CONTAINER, RUNNER_POOL_LABEL } from '../../src/controller/runner-pool/runner-pod.ts';
import { probeConnections, type ConnectionResult, type ProbePod } from './connection-probe.ts';

const url = process.env.MCP_V8_E2E_URL;
const releaseNamespace = process.env.MCP_V8_E2E_RELEASE_NAMESPACE;
const tenantNamespace = process.env.MCP_V8_E2E_TENANT_NAMESPACE;

/** Label the chart puts on its pods, and the component values of each kind of pod. */
const COMPONENT_LABEL = 'app.kubernetes.io/component';
/** How long a connection attempt may take before it counts as dropped. */
const CONNECT_TIMEOUT_MS = 3000;
/** Bound of the wait for a warm runner pod (a fresh cluster may still be starting them). */
const POD_WAIT_MS = 120_000;
/** A port nothing listens on in any of the chart's pods (TCP discard). */
const UNUSED_PORT = 9;

if (url && releaseNamespace && tenantNamespace) {
  describeClusterIsolation(releaseNamespace, tenantNamespace);
} else {
  describe('cluster isolation', () => {
    it.skip(
      'skipped: MCP_V8_E2E_URL, MCP_V8_E2E_RELEASE_NAMESPACE and MCP_V8_E2E_TENANT_NAMESPACE are not all set ' +
        '(scripts/e2e-kind.sh sets them for a kind cluster)',
      () => {},
    );
  });
}

function describeClusterIsolation(release: string, tenant: string): void {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const networking = kc.makeApiClient(NetworkingV1Api);

  describe('PodSecurity restricted', () => {
    it.each([release, tenant])('namespace %s enforces it', async (namespace) => {
      const ns = await core.readNamespace({ name: namespace });
      expect(ns.metadata?.labels ?? {}).toMatchObject({
        'pod-security.kubernetes.io/enforce': 'restricted',
      });
      // A pod with no security context (root allowed, privilege escalation allowed, all
      // capabilities) is refused at admission; dry run, so nothing is created either way.
      const refusal = await core
        .createNamespacedPod({
          namespace,
          dryRun: 'All',
          body: {
            metadata: { name: 'e2e-pod-security-probe' },
            spec: { containers: [{ name: 'probe', image: 'probe.invalid/none:0' }] },
          },
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refusal, 'a pod without a security context was admitted').toBeInstanceOf(ApiException);
      const { code, body } = refusal as ApiException<unknown>;
      expect(code).toBe(403);
      expect(JSON.stringify(body)).toContain('violates PodSecurity');
    });

    it('admits the chart’s pods and the runner pods the controller creates', async () => {
      const runner = await waitForRunningPod(core, release, RUNNER_POOL_LABEL);
      expect(runner.spec?.securityContext?.runAsNonRoot).toBe(true);
      for (const component of ['gateway', 'controller']) {
        await waitForRunningPod(core, release, `${COMPONENT_LABEL}=${component}`);
      }
    });
  });

  describe('runner NetworkPolicy', () => {
    let runner: ProbePod;
    let runnerIp: string;
    let gateway: ProbePod;
    let controllerIp: string;
    /** Destinations a runner needs: the NATS and S3 its own configuration names. */
    let allowed: string[];
    /** Destinations the policy does not open to runners, each named for the failure message. */
    let forbidden: Record<string, string>;

    beforeAll(async () => {
      const runnerPod = await waitForRunningPod(core, release, RUNNER_POOL_LABEL);
      const gatewayPod = await waitForRunningPod(core, release, `${COMPONENT_LABEL}=gateway`);
      const controllerPod = await waitForRunningPod(core, release, `${COMPONENT_LABEL}=controller`);
      runner = { namespace: release, pod: runnerPod.metadata!.name!, container: RUNNER_CONTAINER };
      gateway = { namespace: release, pod: gatewayPod.metadata!.name!, container: 'gateway' };
      runnerIp = runnerPod.status!.podIP!;
      controllerIp = controllerPod.status!.podIP!;

      const env = new Map(
        (runnerPod.spec!.containers.find((c) => c.name === RUNNER_CONTAINER)?.env ?? []).map((e) => [
          e.name,
          e.value,
        ]),
      );
      const nats = hostPort(env.get('MCP_V8_NATS_URL'), 4222);
      const s3 = hostPort(env.get('MCP_V8_S3_ENDPOINT'), 443);
      expect(nats, 'the runner pod names no NATS URL').toBeDefined();
      expect(s3, 'the runner pod names no S3 endpoint (the kind run uses an in-cluster S3)').toBeDefined();
      allowed = [nats!.target, s3!.target];

      const gatewayServices = await core.listNamespacedService({
        namespace: release,
        labelSelector: `${COMPONENT_LABEL}=gateway`,
      });
      const gatewayService = gatewayServices.items[0];
      expect(gatewayService, `no gateway Service in ${release}`).toBeDefined();
      const healthPort = controllerPod.spec!.containers[0]!.ports?.find((p) => p.name === 'health');
      expect(healthPort, 'the controller pod has no health port').toBeDefined();
      forbidden = {
        'the gateway Service': `${gatewayService!.metadata!.name}.${release}.svc:${gatewayService!.spec!.ports![0]!.port}`,
        'the controller pod': `${controllerIp}:${healthPort!.containerPort}`,
        // Another namespace's Service, on a port the policy does not open (NATS monitoring).
        'NATS monitoring': `${nats!.host}:${await monitorPort(core, nats!.host)}`,
      };
    });

    it('selects the runner pods the controller creates', async () => {
      const runnerPod = await core.readNamespacedPod({ name: runner.pod, namespace: release });
      const policies = (await networking.listNamespacedNetworkPolicy({ namespace: release })).items;
      const selecting = policies.filter((p) => selects(p, runnerPod.metadata?.labels ?? {}));
      expect(
        selecting.map((p) => p.metadata?.name),
        `no NetworkPolicy in ${release} selects ${runner.pod}`,
      ).not.toEqual([]);
      expect(selecting.flatMap((p) => p.spec?.policyTypes ?? [])).toEqual(
        expect.arrayContaining(['Ingress', 'Egress']),
      );
    });

    it('lets a runner pod reach the NATS and S3 its configuration names', async () => {
      const results = await probeConnections(runner, allowed, CONNECT_TIMEOUT_MS);
      expect(results.filter((r) => r.outcome !== 'connected')).toEqual([]);
    });

    it('stops a runner pod from reaching the gateway, the controller and other ports', async () => {
      const targets = Object.values(forbidden);
      // The same destinations from a pod no policy selects: each is up and reachable.
      const control = await probeConnections(gateway, targets, CONNECT_TIMEOUT_MS);
      expect(notConnected(control), 'from the gateway pod (no policy)').toEqual([]);
      const fromRunner = await probeConnections(runner, targets, CONNECT_TIMEOUT_MS);
      expect(
        fromRunner.filter((r) => r.outcome === 'connected').map((r) => named(forbidden, r)),
        'reachable from a runner pod',
      ).toEqual([]);
    });

    it('drops connections to a runner pod', async () => {
      const [toController, toRunner] = await probeConnections(
        gateway,
        [`${controllerIp}:${UNUSED_PORT}`, `${runnerIp}:${UNUSED_PORT}`],
        CONNECT_TIMEOUT_MS,
      );
      // A pod no policy selects answers a closed port with a reset ...
      expect(toController!.outcome, JSON.stringify(toController)).toBe('refused');
      // ... while the runner pod's packets are dropped before its network stack sees them.
      expect(['timeout', 'error'], JSON.stringify(toRunner)).toContain(toRunner!.outcome);
    });
  });
}

/** The first Running, ready, not terminating pod matching `labelSelector`, polled up to POD_WAIT_MS. */
async function waitForRunningPod(core: CoreV1Api, namespace: string, labelSelector: string): Promise<V1Pod> {
  const deadline = Date.now() + POD_WAIT_MS;
  for (;;) {
    const { items } = await core.listNamespacedPod({ namespace, labelSelector });
    const ready = items.find(
      (p) =>
        p.status?.phase === 'Running' &&
        !p.metadata?.deletionTimestamp &&
        p.status.podIP &&
        (p.status.containerStatuses ?? []).every((c) => c.ready),
    );
    if (ready) return ready;
    if (Date.now() > deadline) {
      const seen = items.map((p) => `${p.metadata?.name}: ${p.status?.phase}`).join(', ') || 'none';
      throw new Error(
        `no running pod ${labelSelector} in ${namespace} within ${POD_WAIT_MS / 1000}s (${seen})`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** `host:port` of a URL (nats://…, http://…), the scheme's port when none is given. */
function hostPort(
  raw: string | undefined,
  defaultPort: number,
): { host: string; target: string } | undefined {
  if (!raw) return undefined;
  const u = new URL(raw);
  const port = u.port || (u.protocol === 'http:' ? '80' : String(defaultPort));
  return { host: u.hostname, target: `${u.hostname}:${port}` };
}

/**
 * The monitoring port of the NATS Service a runner uses: `host` is `<service>.<namespace>.svc…`;
 * the port named `monitor` (test/e2e/kind/nats.yaml exposes it for this check).
 */
async function monitorPort(core: CoreV1Api, host: string): Promise<number> {
  const [name, namespace] = host.split('.');
  const service = await core.readNamespacedService({ name: name!, namespace: namespace! });
  const port = service.spec?.ports?.find((p) => p.name === 'monitor')?.port;
  if (port === undefined) throw new Error(`Service ${namespace}/${name} exposes no port named monitor`);
  return port;
}

/** Whether a policy's podSelector selects a pod with `labels` (matchLabels and matchExpressions). */
function selects(policy: V1NetworkPolicy, labels: Record<string, string>): boolean {
  const selector = policy.spec?.podSelector ?? {};
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        return has && (e.values ?? []).includes(labels[e.key]!);
      case 'NotIn':
        return !has || !(e.values ?? []).includes(labels[e.key]!);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
  return byLabels && byExpressions;
}

function notConnected(results: ConnectionResult[]): ConnectionResult[] {
  return results.filter((r) => r.outcome !== 'connected');
}

/** "<what> (<target>)" for a failure message. */
function named(forbidden: Record<string, string>, r: ConnectionResult): string {
  const what = Object.entries(forbidden).find(([, t]) => t === r.target)?.[0] ?? 'unnamed';
  return `${what} (${r.target})`;
}
