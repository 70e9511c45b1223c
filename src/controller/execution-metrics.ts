/**
 * Prometheus metrics of executions (prom-client): outcomes, latency, queue depth and runners.
 * Names follow `mcpv8_<noun>_<unit>`; label values come from fixed sets.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ExecutionOutcome, RunnerPoolStats } from '../core/index.ts';
import type { RunnerPodEndKind } from './runner-pool/runner-pod-end.ts';

export class ExecutionMetrics {
  readonly registry = new Registry();
  readonly #finished: Counter<'status' | 'reason'>;
  readonly #duration: Histogram<'status'>;
  readonly #queueWait: Histogram;
  readonly #podsEnded: Counter<'reason'>;

  constructor(sources: { queue: () => { queued: number; running: number }; runners: () => RunnerPoolStats }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'mcpv8_process_' });
    this.#finished = new Counter({
      name: 'mcpv8_executions_finished_total',
      help: 'Executions that reached a terminal status, by status and failure reason',
      labelNames: ['status', 'reason'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'mcpv8_execution_duration_seconds',
      help: 'Time from start to end of an execution in its runner',
      labelNames: ['status'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 300],
      registers: [this.registry],
    });
    this.#queueWait = new Histogram({
      name: 'mcpv8_execution_queue_wait_seconds',
      help: 'Time an execution waited in the queue before it started',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [this.registry],
    });
    this.#podsEnded = new Counter({
      name: 'mcpv8_runner_pods_ended_total',
      help: 'Runner pods that ended and were replaced, by how: OOMKilled, Evicted, Completed, Error, Other',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'mcpv8_executions_queued',
      help: 'Executions waiting to start',
      registers: [this.registry],
      collect() {
        this.set(sources.queue().queued);
      },
    });
    new Gauge({
      name: 'mcpv8_executions_running',
      help: 'Executions running now',
      registers: [this.registry],
      collect() {
        this.set(sources.queue().running);
      },
    });
    new Gauge({
      name: 'mcpv8_runners',
      help: 'Runner processes, by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const s = sources.runners();
        this.set({ state: 'ready' }, s.ready);
        this.set({ state: 'starting' }, s.runners - s.ready);
      },
    });
    new Gauge({
      name: 'mcpv8_runner_restarts',
      help: 'Runner processes replaced since start (crashes, OOM kills, hung runners)',
      registers: [this.registry],
      collect() {
        this.set(sources.runners().restarts);
      },
    });
  }

  observeStart(queuedMs: number): void {
    this.#queueWait.observe(queuedMs / 1000);
  }

  observeOutcome(outcome: ExecutionOutcome): void {
    this.#finished.inc({ status: outcome.status, reason: outcome.error?.reason ?? 'None' });
    this.#duration.observe({ status: outcome.status }, outcome.durationMs / 1000);
  }

  /** A runner pod that ended was deleted (to be replaced). */
  podEnded(kind: RunnerPodEndKind): void {
    this.#podsEnded.inc({ reason: kind });
  }
}
