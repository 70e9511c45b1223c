/**
 * A RunnerPool's status from what the controller observed (pure): counts, the selector the scale
 * subresource publishes, and the Ready condition, whose lastTransitionTime only moves when its
 * status does.
 */
import {
  RunnerPoolConditionType,
  type Condition,
  type RunnerPool,
  type RunnerPoolStatus,
} from '../../api/v1alpha1/index.ts';
import { RUNNER_POOL_LABEL } from './runner-pod.ts';
import { ResourceProblemReason } from './runner-pod-resources.ts';

/** Reasons of the Ready condition. */
export const RunnerPoolReadyReason = {
  /** At least `replicas` runners announced themselves. */
  RunnersReady: 'RunnersReady',
  /** Fewer runners ready than wanted (starting, or being replaced). */
  RunnersNotReady: 'RunnersNotReady',
  /** The pool cannot get pods (e.g. a name too long to label them). */
  InvalidSpec: 'InvalidSpec',
  /** Pods keep ending before their runners announce themselves; new ones wait (a backoff). */
  PodsFailingToStart: 'PodsFailingToStart',
  /** The template's resources are below what a runner needs (no pods are created): the reason says which. */
  ...ResourceProblemReason,
} as const;
export type RunnerPoolReadyReason = (typeof RunnerPoolReadyReason)[keyof typeof RunnerPoolReadyReason];

/** The label selector of a pool's pods, serialised as the scale subresource expects. */
export function poolSelector(poolName: string): string {
  return `${RUNNER_POOL_LABEL}=${poolName}`;
}

/** What the reconcile observed. */
export interface ObservedPool {
  live: number;
  /** Runners that announced themselves (the hook's count; capped at `live` here). */
  readyRunners: number;
  /**
   * Set when the spec is unusable: Ready is False with this reason and message (a bare message:
   * reason InvalidSpec).
   */
  invalid?: string | { reason: RunnerPoolReadyReason; message: string };
  /** Pods ended since a runner last announced itself, and when the next may be created (RFC 3339). */
  failingToStart?: { pods: number; nextAttempt?: string };
}

/** The status to write; `now` is an RFC 3339 time for a condition that changes status. */
export function computeStatus(pool: RunnerPool, observed: ObservedPool, now: string): RunnerPoolStatus {
  const desired = pool.spec.replicas;
  const readyReplicas = Math.max(0, Math.min(observed.readyRunners, observed.live));
  let condition: Omit<Condition<RunnerPoolConditionType, RunnerPoolReadyReason>, 'lastTransitionTime'>;
  if (observed.invalid !== undefined) {
    const { reason, message } =
      typeof observed.invalid === 'string'
        ? { reason: RunnerPoolReadyReason.InvalidSpec, message: observed.invalid }
        : observed.invalid;
    condition = { type: RunnerPoolConditionType.Ready, status: 'False', reason, message };
  } else {
    const ready = readyReplicas >= desired;
    const failing = ready ? undefined : observed.failingToStart;
    condition = {
      type: RunnerPoolConditionType.Ready,
      status: ready ? 'True' : 'False',
      reason: ready
        ? RunnerPoolReadyReason.RunnersReady
        : failing
          ? RunnerPoolReadyReason.PodsFailingToStart
          : RunnerPoolReadyReason.RunnersNotReady,
      message:
        `${readyReplicas} of ${desired} runners ready` +
        (failing
          ? `; ${failing.pods} pods ended before their runner became ready` +
            (failing.nextAttempt ? `, next pod at ${failing.nextAttempt}` : '')
          : ''),
    };
  }
  const generation = pool.metadata?.generation;
  const previous = pool.status?.conditions?.find((c) => c.type === RunnerPoolConditionType.Ready);
  const lastTransitionTime =
    previous && previous.status === condition.status ? previous.lastTransitionTime : now;
  const others = (pool.status?.conditions ?? []).filter((c) => c.type !== RunnerPoolConditionType.Ready);
  return {
    replicas: observed.live,
    readyReplicas,
    selector: poolSelector(pool.metadata!.name!),
    conditions: [
      ...others,
      {
        ...condition,
        lastTransitionTime,
        ...(generation !== undefined && { observedGeneration: generation }),
      },
    ],
    ...(generation !== undefined && { observedGeneration: generation }),
  };
}

/** True when `next` says something `current` does not (key order does not matter). */
export function statusChanged(current: RunnerPoolStatus | undefined, next: RunnerPoolStatus): boolean {
  return canonical(current ?? {}) !== canonical(next);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
