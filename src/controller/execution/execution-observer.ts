/**
 * What the Execution reconciler reports, turned into Kubernetes events (a fixed reason
 * vocabulary, so `kubectl get events --field-selector reason=RunnerLost` works) and metrics.
 */
import type { Execution } from '../../api/v1alpha1/index.ts';
import type { ExecutionOutcome } from '../../core/index.ts';
import type { EventRecorder } from '../events/event-recorder.ts';
import type { ExecutionObserver } from './execution-reconciler.ts';

/** Event reasons on Executions; stable, CamelCase. Failures use the outcome's failure reason. */
export const ExecutionEventReason = {
  Scheduled: 'Scheduled',
  Succeeded: 'Succeeded',
  Cancelled: 'Cancelled',
  TimedOut: 'TimedOut',
  RunnerPoolNotFound: 'RunnerPoolNotFound',
  Expired: 'Expired',
} as const;

/** Metrics the observer feeds (ExecutionMetrics fits). */
export interface ExecutionOutcomeMetrics {
  observeStart(queuedMs: number): void;
  observeOutcome(outcome: ExecutionOutcome): void;
}

export function executionObserver(
  events: EventRecorder | undefined,
  metrics: ExecutionOutcomeMetrics,
): ExecutionObserver {
  return {
    assigned(execution: Execution, runner: string, queuedMs: number) {
      metrics.observeStart(Math.max(0, queuedMs));
      events?.record(execution, 'Normal', ExecutionEventReason.Scheduled, `assigned to runner pod ${runner}`);
    },
    finished(execution: Execution, outcome: ExecutionOutcome) {
      metrics.observeOutcome(outcome);
      if (outcome.status === 'completed')
        events?.record(
          execution,
          'Normal',
          ExecutionEventReason.Succeeded,
          `completed in ${outcome.durationMs} ms`,
        );
      else if (outcome.status === 'cancelled')
        events?.record(execution, 'Normal', ExecutionEventReason.Cancelled, 'cancelled');
      else if (outcome.status === 'timed_out')
        events?.record(
          execution,
          'Warning',
          ExecutionEventReason.TimedOut,
          outcome.error?.message ?? 'timed out',
        );
      else
        events?.record(
          execution,
          'Warning',
          outcome.error?.reason ?? 'Error',
          outcome.error?.message ?? 'failed',
        );
    },
    poolMissing(execution: Execution, pool: string) {
      events?.record(
        execution,
        'Warning',
        ExecutionEventReason.RunnerPoolNotFound,
        `RunnerPool ${pool} does not exist; the execution waits for it`,
      );
    },
    expired(execution: Execution) {
      events?.record(execution, 'Normal', ExecutionEventReason.Expired, 'deleted after its TTL');
    },
  };
}
