/**
 * containerd (Debian's 1.6, runc underneath) run by the harness for its real node: its own
 * config, socket and state under the run directory, its content and snapshots under the
 * per-machine cache (so images imported once stay), and the CRI plugin set up for this kind of
 * machine — `restrict_oom_score_adj` (root here may not lower oom_score_adj), cgroupfs, the
 * locally made pause image, and the CNI network of pod-network.ts.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ServiceProcess } from '../service-process.ts';

const run = promisify(execFile);

export interface ContainerdOptions {
  containerd: string;
  ctr: string;
  cniBinDir: string;
  cniConfDir: string;
  /** Image containerd runs each pod sandbox from (already imported or imported here). */
  pauseImage: string;
  /** Content and snapshots (kept across runs). */
  rootDir: string;
  runDir: string;
}

export class Containerd {
  readonly socket: string;
  readonly process: ServiceProcess;
  readonly #ctr: string;

  private constructor(socket: string, proc: ServiceProcess, ctr: string) {
    this.socket = socket;
    this.process = proc;
    this.#ctr = ctr;
  }

  static async start(opts: ContainerdOptions): Promise<Containerd> {
    const dir = join(opts.runDir, 'containerd');
    mkdirSync(dir, { recursive: true });
    mkdirSync(opts.rootDir, { recursive: true });
    const socket = join(dir, 'containerd.sock');
    const config = join(dir, 'config.toml');
    writeFileSync(config, configToml(opts, dir, socket));
    const proc = ServiceProcess.start({
      name: 'containerd',
      command: opts.containerd,
      args: ['--config', config],
      logFile: join(opts.runDir, 'containerd.log'),
    });
    const containerd = new Containerd(socket, proc, opts.ctr);
    try {
      await proc.waitReady(async () => (await containerd.ctr('version')).length > 0, 30_000);
      // Containers a crashed run left in the kept metadata would hold snapshots forever.
      await containerd.removeAllContainers();
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return containerd;
  }

  /** Runs `ctr` against this containerd in the CRI namespace; resolves to its stdout. */
  async ctr(...args: string[]): Promise<string> {
    const { stdout } = await run(this.#ctr, ['--address', this.socket, '--namespace', 'k8s.io', ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  }

  /** Imports an OCI archive unless an image of that name is already there. */
  async importImage(name: string, archive: string): Promise<void> {
    const names = (await this.ctr('images', 'ls', '-q')).split('\n');
    if (names.includes(name)) return;
    await this.ctr('images', 'import', archive);
    const after = (await this.ctr('images', 'ls', '-q')).split('\n');
    if (!after.includes(name))
      throw new Error(`importing ${archive} did not give image ${name}: ${after.join(' ')}`);
  }

  /** Kills and removes every container (and with it its shim). */
  async removeAllContainers(): Promise<void> {
    const ids = (await this.ctr('containers', 'ls', '-q')).split('\n').filter(Boolean);
    for (const id of ids) {
      await this.ctr('tasks', 'kill', '--signal', 'SIGKILL', id).catch(() => undefined);
      await this.ctr('tasks', 'rm', '--force', id).catch(() => undefined);
      await this.ctr('containers', 'rm', id).catch(() => undefined);
    }
  }

  /** Ids of containers with a running task. */
  async runningTasks(): Promise<string[]> {
    const lines = (await this.ctr('tasks', 'ls')).split('\n').slice(1);
    return lines.filter((l) => /\bRUNNING\b/.test(l)).map((l) => l.split(/\s+/)[0]!);
  }

  async stop(): Promise<void> {
    await this.removeAllContainers().catch(() => undefined);
    await this.process.stop();
  }
}

let execs = 0;

/**
 * Runs `command` inside a running container of the containerd at `socket` (as the container's
 * own user, in its namespaces and cgroup): what a process of the pod sees. Resolves to stdout;
 * rejects on a non-zero exit.
 */
export async function ctrExec(
  ctr: string,
  socket: string,
  containerId: string,
  command: string[],
): Promise<string> {
  const { stdout } = await run(ctr, [
    '--address',
    socket,
    '--namespace',
    'k8s.io',
    'tasks',
    'exec',
    '--exec-id',
    `probe-${process.pid}-${++execs}`,
    containerId,
    ...command,
  ]);
  return stdout;
}

function configToml(opts: ContainerdOptions, dir: string, socket: string): string {
  const q = (s: string) => JSON.stringify(s);
  return `version = 2
root = ${q(opts.rootDir)}
state = ${q(join(dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(socket)}

[ttrpc]
  address = ${q(`${socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(opts.pauseImage)}
  # The CRI asks for oom_score_adj -998 on the sandbox; root here may only raise it.
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${q(join(dir, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(opts.cniBinDir)}
    conf_dir = ${q(opts.cniConfDir)}
`;
}
