/**
 * Prometheus metrics of controllers (prom-client), registered on a Registry the caller owns.
 * One instance serves every controller on that registry (prom-client refuses a metric name
 * twice per registry); the `controller` label tells them apart. Label values come from fixed sets.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WorkQueue } from './workqueue.ts';

/** How a reconcile ended: the `result` label. */
export type ReconcileOutcome = 'success' | 'requeue_after' | 'conflict' | 'error' | 'terminal';

/** What went wrong: the `kind` label of the errors counter. */
export type ReconcileErrorKind = 'conflict' | 'api' | 'timeout' | 'terminal' | 'other';

export class ControllerMetrics {
  readonly #reconciles: Counter<'controller' | 'result'>;
  readonly #errors: Counter<'controller' | 'kind'>;
  readonly #duration: Histogram<'controller'>;
  readonly #retries: Counter<'controller'>;
  readonly #dropped: Counter<'controller'>;
  readonly #queues = new Map<string, WorkQueue<string>>();

  constructor(registry: Registry) {
    const registers = [registry];
    const queues = this.#queues;
    this.#reconciles = new Counter({
      name: 'mcpv8_controller_reconciles_total',
      help: 'Reconciles, by controller and result',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.#errors = new Counter({
      name: 'mcpv8_controller_reconcile_errors_total',
      help: 'Reconciles that did not succeed, by controller and kind (conflicts are recomputed, not retried)',
      labelNames: ['controller', 'kind'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'mcpv8_controller_reconcile_duration_seconds',
      help: 'Time one reconcile took',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#retries = new Counter({
      name: 'mcpv8_controller_queue_retries_total',
      help: 'Keys re-queued with backoff after an error',
      labelNames: ['controller'],
      registers,
    });
    this.#dropped = new Counter({
      name: 'mcpv8_controller_queue_dropped_total',
      help: 'Keys refused because the work queue was full (a resync adds them again)',
      labelNames: ['controller'],
      registers,
    });
    new Gauge({
      name: 'mcpv8_controller_queue_depth',
      help: 'Keys waiting in the work queue, by state (ready, delayed, processing)',
      labelNames: ['controller', 'state'],
      registers,
      collect() {
        for (const [controller, q] of queues) {
          this.set({ controller, state: 'ready' }, q.len());
          this.set({ controller, state: 'delayed' }, q.delayed());
          this.set({ controller, state: 'processing' }, q.processing());
        }
      },
    });
  }

  /** Reports `queue`'s depth under `controller` until {@link unregisterQueue}. */
  registerQueue(controller: string, queue: WorkQueue<string>): void {
    this.#queues.set(controller, queue);
  }

  unregisterQueue(controller: string): void {
    this.#queues.delete(controller);
  }

  observeReconcile(controller: string, result: ReconcileOutcome, seconds: number): void {
    this.#reconciles.inc({ controller, result });
    this.#duration.observe({ controller }, seconds);
  }

  observeError(controller: string, kind: ReconcileErrorKind): void {
    this.#errors.inc({ controller, kind });
  }

  observeRetry(controller: string): void {
    this.#retries.inc({ controller });
  }

  observeDropped(controller: string, count: number): void {
    if (count > 0) this.#dropped.inc({ controller }, count);
  }
}
