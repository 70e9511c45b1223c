/**
 * Everything the real-node suite and benchmarks run on, in start order: the pod bridge first,
 * the harness services with NATS and S3 listening on it (where pods reach them), the project's
 * images built from its Dockerfiles, then one real node (containerd + runc + kubelet) registered
 * with the control plane. stop() takes it all down and removes it.
 */
import { requireBinaries } from '../binaries.ts';
import { addToRun, startServices, stopRun, type ServiceRun } from '../services.ts';
import { projectImages, type ProjectImages } from './images.ts';
import { createPodNetwork } from './pod-network.ts';
import { startRealNode } from './real-node.ts';

/** What a test needs to use the real node (JSON-serialisable, for vitest's provide). */
export interface RealNodeInfo {
  name: string;
  nodeIp: string;
  images: ProjectImages;
  /** `ctr` and the containerd socket, to run probes inside a pod's container. */
  ctr: string;
  containerdSocket: string;
}

export interface RealNodeEnv {
  run: ServiceRun;
  node: RealNodeInfo;
  stop(): Promise<void>;
}

export async function startRealNodeEnv(id: string): Promise<RealNodeEnv> {
  if (process.getuid?.() !== 0) throw new Error('a real node runs containerd and a kubelet: it needs root');
  const [images, bins] = await Promise.all([projectImages(), requireBinaries('node', ['CTR'])]);
  const network = await createPodNetwork();
  let run: ServiceRun | undefined;
  try {
    run = await startServices(id, undefined, network.nodeIp);
    const node = await startRealNode(run.endpoints.runDir, run.endpoints.kube!, network, images);
    addToRun(run, node.processes);
    const started = run;
    return {
      run,
      node: {
        name: node.name,
        nodeIp: node.nodeIp,
        images,
        ctr: bins.CTR,
        containerdSocket: node.containerd.socket,
      },
      stop: async () => {
        await node.stop();
        await stopRun(started);
        await network.remove();
      },
    };
  } catch (err) {
    if (run) await stopRun(run);
    await network.remove();
    throw err;
  }
}
