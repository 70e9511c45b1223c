/**
 * Pod networking of the harness's real node: a Linux bridge with the node's address, made before
 * any service starts so NATS and S3 can listen on it, and the CNI bridge + host-local
 * configuration containerd gives each pod sandbox an address on it with. Pods reach the services
 * on the bridge address; nothing is routed further (no masquerade, no forwarding), so a pod
 * reaches the host's listeners on that address and nothing else.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The bridge every pod of the real node is attached to. */
export const POD_BRIDGE = 'mcpv8br0';
/** The node's address on the bridge: services the pods use listen here. */
export const NODE_BRIDGE_IP = '10.77.0.1';
const POD_SUBNET = '10.77.0.0/24';

export interface PodNetwork {
  /** Folder of the CNI network list (containerd's `conf_dir`). */
  confDir: string;
  /** The node's address on the bridge. */
  nodeIp: string;
  remove(): Promise<void>;
}

/** Creates the bridge (idempotent: a bridge left by a crashed run is reused) and the CNI config. */
export async function createPodNetwork(): Promise<PodNetwork> {
  const runDir = mkdtempSync(join(tmpdir(), 'mcpv8-podnet-'));
  const ip = (...args: string[]) => run('ip', args);
  const exists = await ip('link', 'show', POD_BRIDGE).then(
    () => true,
    () => false,
  );
  if (!exists) await ip('link', 'add', POD_BRIDGE, 'type', 'bridge');
  await ip('addr', 'replace', `${NODE_BRIDGE_IP}/24`, 'dev', POD_BRIDGE);
  await ip('link', 'set', POD_BRIDGE, 'up');

  const confDir = join(runDir, 'cni', 'net.d');
  mkdirSync(confDir, { recursive: true });
  const conflist = {
    cniVersion: '0.4.0',
    name: 'mcpv8-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: POD_SUBNET, gateway: NODE_BRIDGE_IP }]],
          dataDir: join(runDir, 'cni', 'ipam'),
        },
      },
    ],
  };
  writeFileSync(join(confDir, '10-mcpv8.conflist'), JSON.stringify(conflist, null, 2));
  return {
    confDir,
    nodeIp: NODE_BRIDGE_IP,
    remove: async () => {
      await ip('link', 'del', POD_BRIDGE).catch(() => undefined);
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
