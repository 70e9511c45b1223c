/**
 * Options of a {@link NatsRunnerPool} (nats-runner-pool.ts) and of one of its runs.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { FailureReason } from '../core/index.ts';
import { DEFAULT_RUNNER_SUBJECT_PREFIX } from './runner-subjects.ts';

export interface NatsRunnerPoolOptions {
  /** First subject token, as given to the runners. */
  subjectPrefix: string;
  /** Runner ids (pod names) known up front. */
  runners: readonly string[];
  /** Also use runners that announce themselves on the heartbeat subject. */
  discover: boolean;
  /** Executions one runner runs at once. */
  concurrencyPerRunner: number;
  /** A runner silent for this long is lost. */
  heartbeatTimeoutMs: number;
  /** How long past its deadline an execution may take before it is declared timed out. */
  deadlineGraceMs: number;
  /** How long a cancelled execution may take to stop before it is declared cancelled. */
  cancelGraceMs: number;
  /**
   * How long a runner's heartbeats may report a resident size above its budget (its
   * `liveHeapRssBytes`) before it gets no more work and is retired once idle.
   */
  memoryGraceMs: number;
  /**
   * Runs one runner is given over its life (a RunnerPool's `executionsPerPod`); then it is
   * retired: no more work, and `onRetired` tells its owner to discard it. Default: unlimited.
   */
  runsPerRunner?: number;
  /** Called once a retired runner (used up, or over its memory budget) has nothing left to run. */
  onRetired?: (runnerId: string) => void;
  /** Called when a runner becomes ready (first heard from) or is lost: readiness changed. */
  onReadinessChange?: (runnerId: string) => void;
  /** Reason of executions whose runner is lost (default RunnerCrashed; cluster: RunnerLost). */
  lostReason?: FailureReason;
  /** JetStream manager of the outcome stream: adopted executions look their outcome up there. */
  outcomes?: JetStreamManager;
}

/** Optional hooks of one {@link NatsRunnerPool.run}. */
export interface RunHooks {
  /**
   * Called when a runner was chosen, before the run is sent: record the assignment durably here.
   * Resolving false (e.g. the execution was cancelled meanwhile) ends it as cancelled unsent.
   */
  assigned?: (runnerId: string) => Promise<boolean>;
}

export const DEFAULT_NATS_RUNNER_POOL_OPTIONS: NatsRunnerPoolOptions = {
  subjectPrefix: DEFAULT_RUNNER_SUBJECT_PREFIX,
  runners: [],
  discover: true,
  concurrencyPerRunner: 1,
  heartbeatTimeoutMs: 10_000,
  deadlineGraceMs: 2000,
  cancelGraceMs: 1000,
  // Two heartbeats past the first above budget: the runner's own guards act within a fraction of that.
  memoryGraceMs: 2000,
};
