/**
 * A real Kubernetes control plane without nodes: etcd, kube-apiserver (token auth, RBAC,
 * service-account keys) and kube-controller-manager (garbage collector, namespace deletion,
 * ...). Pods stay Pending: there is no scheduler or kubelet; tests that need running runner pods
 * play the kubelet themselves.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinaries } from './binaries.ts';
import { freePort } from './free-port.ts';
import { httpOk } from './http-probe.ts';
import { ServiceProcess } from './service-process.ts';

export interface KubeEndpoint {
  /** API server URL, `https://127.0.0.1:<port>`. */
  server: string;
  /** PEM of the API server's self-signed serving certificate (trust it as the CA). */
  caPem: string;
  /** Bearer token of a `system:masters` user. */
  adminToken: string;
  /** A kubeconfig file for the admin user (for kubectl-style tools). */
  kubeconfig: string;
  version: string;
  /**
   * The credential of the one node a real kubelet may register (user `system:node:<name>` in
   * `system:nodes`, so the Node authorizer limits it to its own node and pods).
   */
  node: { name: string; token: string };
}

/** Name of the node a real kubelet registers as (test/harness/node/). */
export const REAL_NODE_NAME = 'mcpv8-node';

export async function startKube(
  runDir: string,
): Promise<{ endpoint: KubeEndpoint; processes: ServiceProcess[] }> {
  const bins = await requireBinaries('kube', ['KUBE_APISERVER', 'KUBE_CONTROLLER_MANAGER', 'ETCD']);
  const dir = join(runDir, 'kube');
  const certDir = join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  const processes: ServiceProcess[] = [];
  try {
    const etcdUrl = await startEtcd(bins.ETCD, dir, runDir, processes);

    const adminToken = randomBytes(24).toString('hex');
    const node = { name: REAL_NODE_NAME, token: randomBytes(24).toString('hex') };
    writeFileSync(
      join(dir, 'tokens.csv'),
      `${adminToken},mcpv8-admin,mcpv8-admin-uid,"system:masters"\n` +
        `${node.token},system:node:${node.name},node-${node.name},"system:nodes"\n`,
      { mode: 0o600 },
    );
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const apiserver = ServiceProcess.start({
      name: 'kube-apiserver',
      command: bins.KUBE_APISERVER,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=Node,RBAC',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--api-audiences=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/16',
        // The loopback advertise address is refused by the endpoint reconciler; no Service needs it here.
        '--endpoint-reconciler-type=none',
        '--allow-privileged=false',
        '--profiling=false',
        '--v=1',
      ],
      logFile: join(runDir, 'kube-apiserver.log'),
    });
    processes.push(apiserver);
    const caPem = await waitForCert(apiserver, join(certDir, 'apiserver.crt'));
    await apiserver.waitReady(() => httpsOk(`${server}/readyz`, caPem, adminToken), 60_000);

    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, lastPemBlock(caPem));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(server, caPem, adminToken), { mode: 0o600 });
    const kcmPort = await freePort();
    const kcm = ServiceProcess.start({
      name: 'kube-controller-manager',
      command: bins.KUBE_CONTROLLER_MANAGER,
      args: [
        `--kubeconfig=${kubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--leader-elect=false',
        '--use-service-account-credentials=false',
        `--service-account-private-key-file=${join(dir, 'sa.key')}`,
        // The CA block only: the serving certificate first in apiserver.crt has no CA bit.
        `--root-ca-file=${caFile}`,
        // No nodes and no cloud here: leave out the controllers that manage them.
        '--controllers=*,-node-ipam-controller,-node-lifecycle-controller',
        '--v=1',
      ],
      logFile: join(runDir, 'kube-controller-manager.log'),
    });
    processes.push(kcm);
    await kcm.waitReady(() => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`, undefined, adminToken), 60_000);

    const { stdout } = await promisify(execFile)(bins.KUBE_APISERVER, ['--version']);
    const version = /v\d+\.\d+\.\d+\S*/.exec(stdout)?.[0] ?? 'unknown';
    return { endpoint: { server, caPem, adminToken, kubeconfig, version, node }, processes };
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop()));
    throw err;
  }
}

async function startEtcd(
  etcd: string,
  dir: string,
  runDir: string,
  processes: ServiceProcess[],
): Promise<string> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const proc = ServiceProcess.start({
    name: 'etcd',
    command: etcd,
    args: [
      '--name=mcpv8',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=mcpv8=${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logFile: join(runDir, 'etcd.log'),
  });
  processes.push(proc);
  await proc.waitReady(() => httpOk(`${url}/health`), 30_000);
  return url;
}

/** The API server writes its self-signed serving certificate shortly after it starts. */
async function waitForCert(proc: ServiceProcess, file: string): Promise<string> {
  let pem = '';
  await proc.waitReady(async () => {
    pem = readFileSync(file, 'utf8');
    return pem.includes('END CERTIFICATE');
  }, 30_000);
  return pem;
}

/** GET with a bearer token over TLS; trusts `caPem` when given, else accepts any certificate. */
function httpsOk(url: string, caPem: string | undefined, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        headers: { authorization: `Bearer ${token}` },
        ...(caPem ? { ca: caPem } : { rejectUnauthorized: false }),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function lastPemBlock(pem: string): string {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  return blocks.at(-1) ?? pem;
}

/** A kubeconfig of one bearer-token user. */
export function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: mcpv8
  cluster: {server: "${server}", certificate-authority-data: "${ca}"}
users:
- name: mcpv8-admin
  user: {token: "${token}"}
contexts:
- name: mcpv8
  context: {cluster: mcpv8, user: mcpv8-admin}
current-context: mcpv8
`;
}
