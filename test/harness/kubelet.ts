/**
 * A fake kubelet for the harness control plane (which has no scheduler and no kubelet): it
 * watches the pods of one namespace that match a label selector, binds each new one to a node,
 * runs its single container as a local process with the container's env resolved, reports the
 * pod status as a kubelet would, and finishes graceful deletions. Containers are never restarted.
 */
import { CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Informer, podSource } from '../../src/controller/runtime/index.ts';
import { kubeApi } from './kube-api.ts';
import { tokenKubeConfig } from './kube-config.ts';
import type { KubeEndpoint } from './kube.ts';
import { POD_IP, runningStatus, terminatedStatus, waitingStatus } from './pod-status.ts';
import { expandVars, PodEnvError, resolvePodEnv, type PodFields } from './pod-env.ts';
import { isGroupAlive, killGroup } from './service-process.ts';

/** Node name pods are bound to. */
export const HARNESS_NODE = 'harness-node';
export { POD_IP };
/** Env marker of pod processes; CI fails when one outlives the tests. */
export const KUBELET_POD_MARKER = 'kubelet-pod';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The local command of one container. */
export interface PodCommand {
  command: string;
  args: string[];
}

export interface FakeKubeletOptions {
  kube: KubeEndpoint;
  namespace: string;
  /** Only pods matching this selector are run (default: all pods of the namespace). */
  labelSelector?: string;
  /**
   * Maps a container to a local command. Default: the project's runner image entrypoint,
   * `node --no-node-snapshot <repo>/src/cli/main.ts <container.args with $(VAR) expanded>`.
   */
  commandFor?: (pod: V1Pod, container: V1Container, env: Record<string, string>) => PodCommand;
  /** Cap on the termination grace period, in ms (default 3000). */
  maxGraceMs?: number;
  /** Directory of the per-pod log files (default: a new temp dir). */
  logDir?: string;
}

interface Entry {
  name: string;
  uid: string;
  container: V1Container;
  state: 'starting' | 'running' | 'exited' | 'terminating' | 'done';
  started: Promise<void>;
  pid?: number;
  exited?: Promise<number>;
  startedAt?: string;
  /** Killed by {@link FakeKubelet.oomKill}: its exit is reported as the kernel's OOM kill. */
  oomKilled?: boolean;
  /** Status patches are applied in order (an early exit must not be overtaken by "Running"). */
  statusChain: Promise<void>;
}

/** Runs the pods of one namespace as local processes. Create with {@link FakeKubelet.start}. */
export class FakeKubelet {
  readonly logDir: string;
  /** Failures of background work (API errors, spawn errors); tests may assert it stays empty. */
  readonly problems: string[] = [];
  readonly #opts: FakeKubeletOptions;
  readonly #kube: KubeEndpoint;
  readonly #pods = new Map<string, Entry>();
  readonly #logs = new Map<string, string>();
  readonly #work = new Set<Promise<unknown>>();
  /** Every process group not yet gone, by leader pid, whether or not its pod is still tracked. */
  readonly #live = new Map<number, Promise<void>>();
  readonly #abort = new AbortController();
  readonly #maxGraceMs: number;
  #informerDone: Promise<void> = Promise.resolve();
  #node: Promise<void> | undefined;
  readonly #core: CoreV1Api;

  private constructor(opts: FakeKubeletOptions) {
    this.#opts = opts;
    this.#kube = opts.kube;
    this.#maxGraceMs = opts.maxGraceMs ?? 3000;
    this.#core = tokenKubeConfig(opts.kube).makeApiClient(CoreV1Api);
    this.logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), 'mcpv8-kubelet-'));
  }

  /** Starts watching; resolves once the first list is in (pods already there are started too). */
  static async start(opts: FakeKubeletOptions): Promise<FakeKubelet> {
    const kubelet = new FakeKubelet(opts);
    const informer = new Informer<V1Pod>({
      kubeConfig: tokenKubeConfig(opts.kube),
      source: podSource(tokenKubeConfig(opts.kube), {
        namespace: opts.namespace,
        labelSelector: opts.labelSelector,
      }),
      restartBackoff: { baseMs: 100, maxMs: 2000 },
    });
    informer.addEventHandler({
      onAdd: (pod) => kubelet.#sync(pod),
      onUpdate: (pod) => kubelet.#sync(pod),
      onDelete: (pod) => kubelet.#gone(pod),
    });
    kubelet.#informerDone = informer.start(kubelet.#abort.signal);
    await informer.waitForSync(kubelet.#abort.signal);
    return kubelet;
  }

  /** Names of the pods whose process runs now. */
  running(): string[] {
    return [...this.#pods.values()]
      .filter((e) => e.pid !== undefined && e.state !== 'done' && isGroupAlive(e.pid))
      .map((e) => e.name);
  }

  /** Process id of a pod's container, while the kubelet tracks it. */
  pidOf(podName: string): number | undefined {
    return this.#pods.get(podName)?.pid;
  }

  /** Output (stdout and stderr) of the latest process of `podName`; '' when none ran. */
  logOf(podName: string): string {
    const file = this.#logs.get(podName);
    if (!file) return '';
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  }

  /** Sends `signal` to a pod's process without deleting the pod (a crash); false if not running. */
  kill(podName: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    const entry = this.#pods.get(podName);
    if (entry?.pid === undefined || entry.state !== 'running') return false;
    return killGroup(entry.pid, signal);
  }

  /**
   * What a real kubelet reports when the kernel kills a container at its cgroup memory limit: the
   * process is SIGKILLed and its pod ends Failed with the container terminated `OOMKilled`, exit
   * code 137. This kubelet enforces no limits, so tests ask for it (the real-kubelet suite has the
   * kernel do it); false if the pod is not running.
   */
  oomKill(podName: string): boolean {
    const entry = this.#pods.get(podName);
    if (entry?.pid === undefined || entry.state !== 'running') return false;
    entry.oomKilled = true;
    return killGroup(entry.pid, 'SIGKILL');
  }

  /** SIGKILLs every process, waits for them to exit and stops watching. Idempotent. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const pid of this.#live.keys()) killGroup(pid, 'SIGKILL');
    await Promise.all(this.#live.values());
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    await this.#informerDone;
  }

  get #stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  #track(work: Promise<unknown>): void {
    const p = work.catch((err: unknown) => this.#problem(`unexpected: ${String(err)}`));
    this.#work.add(p);
    void p.finally(() => this.#work.delete(p));
  }

  #problem(message: string): void {
    this.problems.push(message);
  }

  #sync(pod: V1Pod): void {
    if (this.#stopped) return;
    const name = pod.metadata?.name;
    const uid = pod.metadata?.uid;
    if (!name || !uid) return;
    const entry = this.#pods.get(name);
    if (entry && entry.uid !== uid) {
      // A new pod under an old name: the old one is gone even if its delete event was missed.
      this.#gone({ metadata: { name, uid: entry.uid } });
      return this.#sync(pod);
    }
    if (pod.metadata?.deletionTimestamp) {
      if (entry) this.#track(this.#terminate(entry, pod));
      else if (pod.spec?.nodeName === HARNESS_NODE) this.#track(this.#finishDeletion(name, uid));
      return;
    }
    if (entry) return;
    if (pod.spec?.nodeName && pod.spec.nodeName !== HARNESS_NODE) return;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const container = pod.spec?.containers[0];
    if (!container) return;
    const fresh: Entry = {
      name,
      uid,
      container,
      state: 'starting',
      started: Promise.resolve(),
      statusChain: Promise.resolve(),
    };
    this.#pods.set(name, fresh);
    fresh.started = this.#run(fresh, pod);
    this.#track(fresh.started);
  }

  /** The pod object is gone (force delete, or after our own deletion): its process must be too. */
  #gone(pod: V1Pod): void {
    const name = pod.metadata?.name;
    const entry = name ? this.#pods.get(name) : undefined;
    if (!entry || entry.uid !== pod.metadata?.uid) return;
    entry.state = 'done';
    if (entry.pid !== undefined) killGroup(entry.pid, 'SIGKILL');
    this.#pods.delete(entry.name);
  }

  async #run(entry: Entry, pod: V1Pod): Promise<void> {
    const ns = this.#opts.namespace;
    await (this.#node ??= this.#ensureNode());
    // A pod deleted (or a kubelet stopped) meanwhile is no longer ours to start.
    const abandoned = () => entry.state !== 'starting' || this.#stopped;
    if (abandoned()) return;
    if (!pod.spec?.nodeName) {
      const bound = await kubeApi(this.#kube, 'POST', `/api/v1/namespaces/${ns}/pods/${entry.name}/binding`, {
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: entry.name, uid: entry.uid },
          target: { apiVersion: 'v1', kind: 'Node', name: HARNESS_NODE },
        },
      });
      if (bound.status !== 201 && !abandoned() && bound.status !== 404)
        return this.#problem(`bind ${entry.name}: HTTP ${bound.status} ${JSON.stringify(bound.body)}`);
      if (bound.status !== 201) return;
    }
    const { container } = entry;
    const fields: PodFields = {
      name: entry.name,
      namespace: ns,
      uid: entry.uid,
      nodeName: HARNESS_NODE,
      serviceAccountName: pod.spec?.serviceAccountName ?? 'default',
      podIP: POD_IP,
      labels: pod.metadata?.labels,
      annotations: pod.metadata?.annotations,
      resources: flattenResources(container),
    };
    let env: Record<string, string>;
    try {
      env = await resolvePodEnv(this.#kube, fields, container.env, container.envFrom);
    } catch (err) {
      if (!(err instanceof PodEnvError)) throw err;
      return this.#patchStatus(entry, waitingStatus(container, 'CreateContainerConfigError', err.message));
    }
    if (abandoned()) return;
    const { command, args } = (this.#opts.commandFor ?? defaultCommand)(pod, container, env);
    if (this.#spawn(entry, command, args, env))
      await this.#patchStatus(entry, runningStatus(container, entry));
  }

  /** Starts the container process; false when it could not be started. */
  #spawn(entry: Entry, command: string, args: string[], env: Record<string, string>): boolean {
    const logFile = join(this.logDir, `${entry.name}-${entry.uid.slice(0, 8)}.log`);
    this.#logs.set(entry.name, logFile);
    const fd = openSync(logFile, 'a');
    try {
      const child = spawn(command, args, {
        cwd: repoRoot,
        // Nothing of the test process leaks in but what finds binaries and caches.
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          ...env,
          MCPV8_TEST_SERVICE: KUBELET_POD_MARKER,
        },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      entry.exited = new Promise<number>((resolve) => {
        child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
        child.once('error', (err) => {
          this.#problem(`spawn ${entry.name}: ${err.message}`);
          resolve(127);
        });
      });
      if (child.pid === undefined) {
        entry.state = 'exited';
        return false;
      }
      const pid = child.pid;
      entry.pid = pid;
      // The group may outlive its leader for a moment; stop() waits for all of it.
      const gone = entry.exited.then(async () => {
        for (let i = 0; i < 100 && isGroupAlive(pid); i++) await sleep(20);
        this.#live.delete(pid);
      });
      this.#live.set(pid, gone);
      entry.state = 'running';
      entry.startedAt = new Date().toISOString();
      void entry.exited.then((code) => this.#onExit(entry, code));
      return true;
    } finally {
      closeSync(fd);
    }
  }

  #onExit(entry: Entry, code: number): void {
    if (entry.state !== 'running' || this.#stopped) return;
    entry.state = 'exited';
    const status = entry.oomKilled
      ? terminatedStatus(entry.container, entry, 137, 'OOMKilled')
      : terminatedStatus(entry.container, entry, code);
    this.#track(this.#patchStatus(entry, status));
  }

  /** Graceful deletion: SIGTERM, SIGKILL after the (capped) grace period, then remove the pod. */
  async #terminate(entry: Entry, pod: V1Pod): Promise<void> {
    if (entry.state === 'terminating' || entry.state === 'done') return;
    const wasRunning = entry.state === 'running';
    entry.state = 'terminating';
    await entry.started;
    if (wasRunning && entry.pid !== undefined && entry.exited) {
      const graceS =
        pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      killGroup(entry.pid, 'SIGTERM');
      const exitedInTime = await Promise.race([
        entry.exited.then(() => true),
        sleep(Math.min(graceS * 1000, this.#maxGraceMs), false),
      ]);
      if (!exitedInTime) killGroup(entry.pid, 'SIGKILL');
      await entry.exited;
    }
    await entry.statusChain;
    if (this.#stopped) return;
    await this.#finishDeletion(entry.name, entry.uid);
  }

  async #finishDeletion(name: string, uid: string): Promise<void> {
    // Through client-node: a raw DELETE body goes out without framing and would be ignored.
    try {
      await this.#core.deleteNamespacedPod({
        name,
        namespace: this.#opts.namespace,
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
    } catch (err) {
      // 404: already gone; 409: the uid belongs to a newer pod of that name.
      const code = (err as { code?: number }).code;
      if (code !== 404 && code !== 409) this.#problem(`delete ${name}: ${String(err)}`);
    }
  }

  #patchStatus(entry: Entry, status: Record<string, unknown>): Promise<void> {
    const patch = async () => {
      if (this.#stopped) return;
      const res = await kubeApi(
        this.#kube,
        'PATCH',
        `/api/v1/namespaces/${this.#opts.namespace}/pods/${entry.name}/status`,
        {
          body: { metadata: { uid: entry.uid }, status },
          contentType: 'application/merge-patch+json',
        },
      );
      if (res.status >= 300 && res.status !== 404 && res.status !== 409) {
        this.#problem(`status ${entry.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      }
    };
    entry.statusChain = entry.statusChain.then(patch, patch);
    return entry.statusChain;
  }

  /** The Node object pods are bound to: the pod GC controller deletes pods bound to missing nodes. */
  async #ensureNode(): Promise<void> {
    const res = await kubeApi(this.#kube, 'POST', '/api/v1/nodes', {
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: HARNESS_NODE, labels: { 'kubernetes.io/hostname': HARNESS_NODE } },
      },
    });
    if (res.status !== 201 && res.status !== 409)
      this.#problem(`node: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
}

function defaultCommand(_pod: V1Pod, container: V1Container, env: Record<string, string>): PodCommand {
  return {
    command: process.execPath,
    args: [
      '--no-node-snapshot',
      join(repoRoot, 'src/cli/main.ts'),
      ...(container.args ?? []).map((a) => expandVars(a, env)),
    ],
  };
}

function flattenResources(c: V1Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kind of ['limits', 'requests'] as const) {
    for (const [k, v] of Object.entries(c.resources?.[kind] ?? {})) out[`${kind}.${k}`] = String(v);
  }
  return out;
}
