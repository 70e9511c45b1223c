/**
 * One real Kubernetes node for the harness's control plane: containerd + runc from Debian, the
 * kubelet of the control plane's release registering with its own node credential, pod
 * networking on a bridge, the harness's binder as the scheduler, and the project's images
 * (built from its Dockerfiles by scripts/images/build.sh) imported into containerd. Pods run as
 * real containers under the limits the kernel enforces; nothing of it stays running after stop().
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { requireBinaries } from '../binaries.ts';
import { cacheDir } from '../services.ts';
import { kubeApi } from '../kube-api.ts';
import type { KubeEndpoint } from '../kube.ts';
import type { ServiceProcess } from '../service-process.ts';
import { Containerd } from './containerd.ts';
import type { ProjectImages } from './images.ts';
import { startKubelet } from './kubelet-process.ts';
import { PodBinder } from './pod-binder.ts';
import type { PodNetwork } from './pod-network.ts';

export interface RealNode {
  name: string;
  /** The node's address, where pods reach the services. */
  nodeIp: string;
  containerd: Containerd;
  /** The service processes (containerd, kubelet) for a run file. */
  processes: ServiceProcess[];
  /** Deletes every pod on the node, waits for the kubelet to stop them, then stops everything. */
  stop(): Promise<void>;
}

/** Starts containerd and the kubelet; resolves once the node is Ready with the images loaded. */
export async function startRealNode(
  runDir: string,
  kube: KubeEndpoint,
  network: PodNetwork,
  images: ProjectImages,
): Promise<RealNode> {
  const bins = await requireBinaries('node', ['CONTAINERD', 'CTR', 'CNI_BIN_DIR']);
  const { KUBELET } = await requireBinaries('kube', ['KUBELET']);
  const containerd = await Containerd.start({
    containerd: bins.CONTAINERD,
    ctr: bins.CTR,
    cniBinDir: bins.CNI_BIN_DIR,
    cniConfDir: network.confDir,
    pauseImage: images.pause.name,
    rootDir: join(cacheDir(), 'containerd'),
    runDir,
  });
  const processes: ServiceProcess[] = [containerd.process];
  let binder: PodBinder | undefined;
  const stop = async () => {
    await binder?.stop();
    await deleteNodePods(kube).catch(() => undefined);
    await waitUntil(async () => (await containerd.runningTasks()).length === 0, 30_000).catch(
      () => undefined,
    );
    for (const p of processes.slice(1).reverse()) await p.stop();
    await containerd.stop();
    unmountUnder(runDir);
    removePodCgroupParents();
    rmSync(join(runDir, 'kubelet'), { recursive: true, force: true });
  };
  try {
    for (const image of [images.pause, images.runner, images.gateway]) {
      await containerd.importImage(image.name, image.archive);
    }
    processes.push(
      await startKubelet({
        kubelet: KUBELET,
        kube,
        containerdSocket: containerd.socket,
        nodeIp: network.nodeIp,
        runDir,
      }),
    );
    await waitUntil(
      () => nodeReady(kube),
      90_000,
      () => tail(join(runDir, 'kubelet.log')),
    );
    binder = await PodBinder.start(kube);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: kube.node.name,
    nodeIp: network.nodeIp,
    containerd,
    processes,
    stop,
  };
}

async function nodeReady(kube: KubeEndpoint): Promise<boolean> {
  const reply = await kubeApi<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
    kube,
    'GET',
    `/api/v1/nodes/${kube.node.name}`,
  );
  return (
    reply.status === 200 &&
    reply.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
  );
}

/** Deletes the pods bound to the node and waits until the kubelet has confirmed each is gone. */
async function deleteNodePods(kube: KubeEndpoint): Promise<void> {
  const list = async () =>
    (
      await kubeApi<{ items: V1Pod[] }>(
        kube,
        'GET',
        `/api/v1/pods?fieldSelector=spec.nodeName%3D${kube.node.name}`,
      )
    ).body.items ?? [];
  for (const pod of await list()) {
    const { namespace, name } = pod.metadata ?? {};
    await kubeApi(kube, 'DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 1 },
    });
  }
  await waitUntil(async () => (await list()).length === 0, 60_000);
}

/** Lazily unmounts whatever is still mounted under `dir` (tmpfs volumes, shm), deepest first. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
}

/** containerd's /k8s.io cgroup folders, once the pods in them are gone (rmdir fails otherwise). */
function removePodCgroupParents(): void {
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    try {
      rmdirSync(join('/sys/fs/cgroup', hierarchy, 'k8s.io'));
    } catch {
      // absent, or still holding a pod
    }
  }
}

async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  explain?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`real node: timed out${explain ? `\n${explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
