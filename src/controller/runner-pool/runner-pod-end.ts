/**
 * How a runner pod ended, read from its status, and what that means for the executions it ran.
 * The execution side learns a runner is gone from the NATS pool (the pod left the pool's members,
 * or its heartbeats stopped), which can only say "lost"; the pod's status says why. A runner
 * container the kernel killed at its memory limit (`OOMKilled`) makes its executions fail
 * `OutOfMemory` naming the limit; any other end stays `RunnerLost`.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { FailureReason, failureError, type ExecutionOutcome } from '../../core/index.ts';
import type { Informer } from '../runtime/informer.ts';
import { RUNNER_CONTAINER } from './runner-pod.ts';

/** The end of a runner pod, from its status. */
export interface RunnerPodEnd {
  pod: string;
  /**
   * The kubelet's reason: the runner container's termination reason (`OOMKilled`, `Error`,
   * `Completed`, …) or, when no container ended, the pod's (`Evicted`).
   */
  reason: string;
  exitCode?: number;
  /** The runner container's memory limit as its pod spec has it (what the kernel enforced). */
  memoryLimit?: string;
  /** The kubelet's message, if any (an eviction says which limit or pressure). */
  message?: string;
}

/** The container reason of a runner killed by the kernel at its cgroup memory limit. */
export const OOM_KILLED = 'OOMKilled';

/** Runner pod ends as a fixed label set for metrics. */
export type RunnerPodEndKind = 'OOMKilled' | 'Evicted' | 'Completed' | 'Error' | 'Other';

/** How `pod` ended; undefined while its runner container has not ended (or never started). */
export function runnerPodEnd(pod: V1Pod): RunnerPodEnd | undefined {
  const name = pod.metadata?.name ?? '';
  const spec = pod.spec?.containers.find((c) => c.name === RUNNER_CONTAINER) ?? pod.spec?.containers[0];
  const status =
    pod.status?.containerStatuses?.find((c) => c.name === RUNNER_CONTAINER) ??
    pod.status?.containerStatuses?.[0];
  const memory = spec?.resources?.limits?.memory;
  const memoryLimit = memory === undefined ? undefined : String(memory);
  // restartPolicy Never: the current state is the one; lastState only if a runtime restarted it.
  const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
  if (terminated) {
    return {
      pod: name,
      reason: terminated.reason ?? (terminated.exitCode === 0 ? 'Completed' : 'Error'),
      exitCode: terminated.exitCode,
      ...(memoryLimit !== undefined && { memoryLimit }),
      ...(terminated.message && { message: terminated.message }),
    };
  }
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    return {
      pod: name,
      reason: pod.status?.reason ?? phase,
      ...(memoryLimit !== undefined && { memoryLimit }),
      ...(pod.status?.message && { message: pod.status.message }),
    };
  }
  return undefined;
}

/** The metrics label of an end. */
export function runnerPodEndKind(end: RunnerPodEnd): RunnerPodEndKind {
  switch (end.reason) {
    case OOM_KILLED:
    case 'Evicted':
    case 'Completed':
    case 'Error':
      return end.reason;
    default:
      return 'Other';
  }
}

/** One line saying how a runner pod ended, for events and messages. */
export function describeRunnerPodEnd(end: RunnerPodEnd): string {
  if (end.reason === OOM_KILLED)
    return `the runner pod ${end.pod} was killed for exceeding its memory limit of ${end.memoryLimit ?? 'unknown size'}`;
  const code = end.exitCode === undefined ? '' : `, exit code ${end.exitCode}`;
  const message = end.message ? `: ${end.message}` : '';
  return `the runner pod ${end.pod} ended (${end.reason}${code})${message}`;
}

/**
 * The outcome of an execution whose runner was lost, given how its pod ended: `OutOfMemory`
 * naming the pod's limit when the kernel killed the runner for memory; otherwise `RunnerLost`,
 * told how the pod ended when that is known. Any other outcome is returned as it is.
 */
export function explainLostOutcome(
  outcome: ExecutionOutcome,
  end: RunnerPodEnd | undefined,
): ExecutionOutcome {
  if (outcome.status !== 'failed' || outcome.error?.reason !== FailureReason.RunnerLost || !end)
    return outcome;
  if (end.reason === OOM_KILLED)
    return { ...outcome, error: failureError(FailureReason.OutOfMemory, describeRunnerPodEnd(end)) };
  return {
    ...outcome,
    error: { ...outcome.error, message: `${outcome.error.message}; ${describeRunnerPodEnd(end)}` },
  };
}

/** Options of {@link RunnerPodEnds}. */
export interface RunnerPodEndsOptions {
  /** The runner pod cache (the controller's pod informer). */
  pods: Pick<Informer<V1Pod>, 'get' | 'addEventHandler'>;
  /** Namespace of the runner pods. */
  namespace: string;
  /**
   * How long to wait for a pod that still looks alive to show how it ended, ms (default
   * {@link STATUS_LAG_GRACE_MS}).
   */
  graceMs?: number;
  /** Ends remembered after their pod is gone from the cache (default 1024, oldest dropped). */
  maxRemembered?: number;
}

/**
 * How long a runner pod's status may lag its runner's silence: the kubelet notices a dead
 * container on its next relist (every second) and reports it at once, so a few seconds cover it.
 * Only waited for when the pod still looks alive and is not being deleted.
 */
export const STATUS_LAG_GRACE_MS = 5000;

/**
 * Ends of runner pods, from the pod informer: asked about a runner the pool just lost, it answers
 * from the pod's status, waiting briefly when the status does not show the end yet, and from a
 * bounded memory when the pod was already deleted.
 */
export class RunnerPodEnds {
  readonly #opts: RunnerPodEndsOptions;
  readonly #ended = new Map<string, RunnerPodEnd>();
  readonly #waiters = new Map<string, Set<(end: RunnerPodEnd | undefined) => void>>();

  constructor(opts: RunnerPodEndsOptions) {
    this.#opts = opts;
    opts.pods.addEventHandler({
      onAdd: (pod) => this.#seen(pod, false),
      onUpdate: (pod) => this.#seen(pod, false),
      onDelete: (pod) => this.#seen(pod, true),
    });
  }

  /**
   * How the runner pod `podName` ended: at once when its status or memory says; after up to the
   * grace period when the pod still looks alive; undefined when it did not end in that time, is
   * being deleted without a status that says more, or is unknown.
   */
  async endOf(podName: string, signal?: AbortSignal): Promise<RunnerPodEnd | undefined> {
    const known = this.#ended.get(podName);
    if (known) return known;
    const pod = this.#opts.pods.get(`${this.#opts.namespace}/${podName}`);
    if (!pod) return undefined;
    const end = runnerPodEnd(pod);
    if (end || pod.metadata?.deletionTimestamp) return end;
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(podName) ?? new Set();
      this.#waiters.set(podName, waiters);
      const done = (value: RunnerPodEnd | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(done);
        if (waiters.size === 0) this.#waiters.delete(podName);
        resolve(value);
      };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), this.#opts.graceMs ?? STATUS_LAG_GRACE_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(done);
    });
  }

  #seen(pod: V1Pod, deleted: boolean): void {
    const name = pod.metadata?.name;
    if (!name) return;
    const end = runnerPodEnd(pod);
    if (end) this.#remember(name, end);
    if (end || deleted || pod.metadata?.deletionTimestamp) {
      for (const wake of [...(this.#waiters.get(name) ?? [])]) wake(end);
    }
  }

  #remember(name: string, end: RunnerPodEnd): void {
    this.#ended.delete(name);
    this.#ended.set(name, end);
    const max = this.#opts.maxRemembered ?? 1024;
    for (const oldest of this.#ended.keys()) {
      if (this.#ended.size <= max) break;
      this.#ended.delete(oldest);
    }
  }
}
