/**
 * A real kubelet (built from the Kubernetes release the harness's control plane runs) that
 * registers the harness's one node with its own node credential and runs pods through
 * containerd. Settings are the ones measured to work on this kind of machine
 * (../shared/notes/real-kubelet.md): cgroup v1 with the cgroupfs driver, no QoS cgroups, no
 * node-allocatable enforcement and no eviction (the tests' pods carry their own limits, which the
 * kernel enforces through each container's cgroup).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../free-port.ts';
import { httpOk } from '../http-probe.ts';
import { kubeconfigYaml, type KubeEndpoint } from '../kube.ts';
import { ServiceProcess } from '../service-process.ts';

export interface KubeletOptions {
  kubelet: string;
  kube: KubeEndpoint;
  containerdSocket: string;
  /** The node's address (on the pod bridge). */
  nodeIp: string;
  runDir: string;
}

export async function startKubelet(opts: KubeletOptions): Promise<ServiceProcess> {
  const dir = join(opts.runDir, 'kubelet');
  mkdirSync(dir, { recursive: true });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(opts.kube.server, opts.kube.caPem, opts.kube.node.token), {
    mode: 0o600,
  });
  const [port, healthzPort] = [await freePort(), await freePort()];
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    JSON.stringify(
      {
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        // cgroup v1 is deprecated in the kubelet, and the only hierarchy for memory here.
        failCgroupV1: false,
        cgroupDriver: 'cgroupfs',
        // Without QoS cgroups the kubelet ignores cgroupRoot: containerd puts each pod under
        // /k8s.io in every hierarchy (real-node.ts removes those folders when they are empty).
        cgroupsPerQOS: false,
        enforceNodeAllocatable: [],
        evictionHard: {},
        failSwapOn: false,
        containerRuntimeEndpoint: `unix://${opts.containerdSocket}`,
        address: '127.0.0.1',
        port,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort,
        authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
        authorization: { mode: 'AlwaysAllow' },
        registerNode: true,
        // The images are loaded locally and never pulled: never collect them.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        serializeImagePulls: false,
        localStorageCapacityIsolation: true,
        // Quick status reports: the tests wait on them.
        nodeStatusUpdateFrequency: '2s',
        syncFrequency: '5s',
        fileCheckFrequency: '5s',
        shutdownGracePeriod: '0s',
        maxPods: 50,
        // Container logs in the run directory, not /var/log/pods of the machine.
        podLogsDir: join(dir, 'pod-logs'),
      },
      null,
      2,
    ),
  );
  const proc = ServiceProcess.start({
    name: 'kubelet',
    command: opts.kubelet,
    args: [
      `--config=${config}`,
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${opts.kube.node.name}`,
      `--node-ip=${opts.nodeIp}`,
      `--root-dir=${join(dir, 'root')}`,
      `--cert-dir=${join(dir, 'pki')}`,
      '--v=1',
    ],
    logFile: join(opts.runDir, 'kubelet.log'),
  });
  try {
    await proc.waitReady(() => httpOk(`http://127.0.0.1:${healthzPort}/healthz`), 60_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
