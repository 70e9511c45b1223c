/**
 * Execution (executions.mcpv8.dev/v1alpha1): one cell to run, as the gateway or `kubectl apply`
 * records it, and how it went. The schema that enforces this shape is in execution-crd.ts.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { FailureReason, type CellLanguage, type ExecutionLimits } from '../../core/api/execution.ts';
import type { HeapId } from '../../core/api/heap-id.ts';
import type { HeapTags } from '../../core/session-log.ts';
import type { Condition } from './condition.ts';

export const EXECUTION_KIND = 'Execution';
export const EXECUTION_PLURAL = 'executions';

/** What to run. Immutable after create, except `cancelRequested` (false → true) and the TTL. */
export interface ExecutionSpec {
  /** The cell, inline (at most EXECUTION_CODE_MAX_CHARS characters). */
  code: string;
  /** Defaulted to `javascript` by the API server. */
  language: CellLanguage;
  /** Stateful mode: resume from this heap (64 lower-case hex). */
  heap?: HeapId;
  /** Stateful mode: log the committed cell under this session name. */
  session?: string;
  /** Stateful mode: tags for the heap the cell commits. */
  tags?: HeapTags;
  /** Defaulted field by field by the API server. */
  limits: ExecutionLimits;
  /** Name of the RunnerPool to run on (pools live in the controller's namespace); default `default`. */
  runnerPool: string;
  /** Set to true to cancel; can never go back to false. */
  cancelRequested: boolean;
  /** Seconds a finished Execution is kept before the controller deletes it (default 900). */
  ttlSecondsAfterFinished: number;
}

/** `status.phase`: a summary for humans; code should read the Succeeded condition. */
export const ExecutionPhase = {
  Pending: 'Pending',
  Scheduled: 'Scheduled',
  Running: 'Running',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Cancelled: 'Cancelled',
  TimedOut: 'TimedOut',
} as const;
export type ExecutionPhase = (typeof ExecutionPhase)[keyof typeof ExecutionPhase];

/** Condition types of an Execution. */
export const ExecutionConditionType = {
  /** Tekton-style: Unknown while it runs, True when it completed, False when it did not. */
  Succeeded: 'Succeeded',
} as const;
export type ExecutionConditionType = (typeof ExecutionConditionType)[keyof typeof ExecutionConditionType];

/**
 * Why an execution did not complete (the domain's reasons; RunnerLost only happens in a
 * cluster). Stable CamelCase, added and deprecated, never renamed; `status.error.reason` accepts
 * exactly these.
 */
export const ExecutionFailureReason = FailureReason;
export type ExecutionFailureReason = (typeof ExecutionFailureReason)[keyof typeof ExecutionFailureReason];

/** Reasons of the Succeeded condition while it is Unknown, and when it is True. */
export const ExecutionProgressReason = {
  Pending: 'Pending',
  Scheduled: 'Scheduled',
  Running: 'Running',
  Succeeded: 'Succeeded',
} as const;
export type ExecutionProgressReason = (typeof ExecutionProgressReason)[keyof typeof ExecutionProgressReason];

export type ExecutionCondition = Condition<
  ExecutionConditionType,
  ExecutionProgressReason | ExecutionFailureReason
>;

/** Where console output is (the lines themselves never go into etcd). */
export interface ExecutionOutputRef {
  lines?: number;
  bytes?: number;
  /** Output past the per-execution cap was dropped. */
  truncated?: boolean;
  /** JetStream stream holding the lines. */
  stream?: string;
  /** Subject of this execution's lines, e.g. `exec.<ns>.<name>.out`. */
  subject?: string;
}

/** How it went. Written by the controller through the status subresource only. */
export interface ExecutionStatus {
  phase?: ExecutionPhase;
  conditions?: ExecutionCondition[];
  /** The `metadata.generation` this status was computed from. */
  observedGeneration?: number;
  runner?: { pod?: string; node?: string };
  startTime?: string;
  completionTime?: string;
  /** The result, cut to EXECUTION_RESULT_MAX_CHARS characters (the full one is in the outcome). */
  result?: string;
  resultTruncated?: boolean;
  resultType?: string;
  error?: { reason: ExecutionFailureReason; message: string };
  /** Stateful mode: the heap the completed cell committed. */
  heap?: HeapId;
  output?: ExecutionOutputRef;
}

/** An Execution as the API server returns it (defaults applied). */
export interface Execution extends KubernetesObject {
  spec: ExecutionSpec;
  status?: ExecutionStatus;
}
