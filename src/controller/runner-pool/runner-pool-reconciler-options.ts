/**
 * What a RunnerPoolReconciler is given (caches, settings, hooks to the runner side, metrics) and
 * the fixed vocabulary of the events it records.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RunnerPool } from '../../api/v1alpha1/index.ts';
import type { RunnerRetirement } from '../../core/index.ts';
import type { EventRecorder } from '../events/event-recorder.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Expectations } from './expectations.ts';
import type { RunnerPodSettings } from './runner-pod.ts';
import type { RunnerPodEndKind } from './runner-pod-end.ts';
import type { ResourceProblemReason } from './runner-pod-resources.ts';
import type { RunnerPoolApi } from './runner-pool-api.ts';
import type { StartBackoff } from './start-backoff.ts';

/** Reasons of the events the RunnerPool reconciler records (a fixed vocabulary). */
export const RunnerPoolEventReason = {
  PodCreated: 'PodCreated',
  PodCreateFailed: 'PodCreateFailed',
  /** Deleted as surplus after a scale-down. */
  PodDeleted: 'PodDeleted',
  PodDeleteFailed: 'PodDeleteFailed',
  /** Deleted because it ran its share of executions. */
  PodRetired: 'PodRetired',
  /** Deleted because its pool now builds pods from another template (a rollout). */
  PodOutdated: 'PodOutdated',
  /** Deleted because it exited (Succeeded or Failed). */
  PodFinished: 'PodFinished',
  /** Deleted because the kernel killed its runner at the pod's memory limit (a Warning). */
  PodOOMKilled: 'PodOOMKilled',
  InvalidSpec: 'InvalidSpec',
  /** Pods keep ending before their runners announce themselves: creations wait (a Warning). */
  PodsFailingToStart: 'PodsFailingToStart',
} as const;
/** Event reasons on pools: the above, or a {@link ResourceProblemReason} when pods are refused. */
export type RunnerPoolEventReason =
  (typeof RunnerPoolEventReason)[keyof typeof RunnerPoolEventReason] | ResourceProblemReason;

/** Counts of runner pods that ended, by how (ExecutionMetrics fits). */
export interface RunnerPodMetrics {
  podEnded(kind: RunnerPodEndKind): void;
}

/** What the execution side tells the pool side, and is told back. */
export interface RunnerPoolHooks {
  /** Pods of the pool whose runner announced itself over NATS. */
  readyRunners(poolKey: string): number;
  /** Why the pod is done with and idle (delete it): it ran its `executionsPerPod`, or stayed over its memory budget. */
  retiredFor(podName: string): RunnerRetirement | undefined;
  /**
   * Whether the pod's runner runs no execution and has none assigned (a rollout replaces only
   * idle ready pods); absent, no ready pod is replaced for a template change.
   */
  idle?(podName: string): boolean;
  /** The pool's live pods after each reconcile (so the NATS runner pool knows its members). */
  onMembers(poolKey: string, podNames: string[]): void;
}

/** The cache reads the reconciler needs (an {@link Informer} fits). */
export type PodCache = Pick<Informer<V1Pod>, 'list' | 'addEventHandler'>;
export type PoolCache = Pick<Informer<RunnerPool>, 'get'>;

/** Options of a {@link RunnerPoolReconciler}. */
export interface RunnerPoolReconcilerOptions {
  kubeConfig: KubeConfig;
  /** Pods labelled `mcpv8.dev/runner-pool` (the controller's namespace). */
  pods: PodCache;
  pools: PoolCache;
  settings: RunnerPodSettings;
  hooks: RunnerPoolHooks;
  events?: EventRecorder;
  expectations?: Expectations;
  /** Creates at most this many pods per reconcile (default 20); the rest come on the next one. */
  maxCreatesPerReconcile?: number;
  /** While fewer runners are ready than wanted, look again after this long, ms (default 5 000). */
  notReadyPollMs?: number;
  /** Overrides `kubeConfig`'s API calls (tests). */
  api?: RunnerPoolApi;
  /** Counts the pods that ended, once each, when they are deleted. */
  metrics?: RunnerPodMetrics;
  log?: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Backoff for pods that keep ending at start (default: 1 s doubling to 5 min). */
  startBackoff?: StartBackoff;
  /** The clock, epoch ms (tests). */
  now?: () => number;
}
