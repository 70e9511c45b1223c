/**
 * The runs a runner pod received and has not finished reporting: each is checked before the
 * runner gets it — run at most once, refused while the pod drains, refused when it needs a heap
 * its namespace does not hold (or the pod has no heap store) — and cancels reach it wherever it
 * is. What the pod announces and what a drain waits for.
 *
 * A pod also holds its claim itself, whatever the controller believes: it admits at most
 * `runsPerPod` runs over its life and binds itself to the tenant (namespace) of its first one. A
 * run beyond either is refused — reported as not run, so the pool sends it elsewhere — never failed.
 */
import {
  FailureReason,
  cancelledError,
  endedOutcome,
  failureError,
  type ExecutionOutcome,
} from '../../core/index.ts';
import type { PodRunMessage, RunRefusal } from '../../cluster/runner-subjects.ts';
import type { RunnerProcess } from '../runner-process.ts';
import type { ClusterHeaps } from './heap-side.ts';

/** Execution ids remembered to refuse a run sent twice. */
const MAX_REMEMBERED_RUNS = 10_000;

export interface PodRunsDeps {
  heaps: Pick<ClusterHeaps, 'refusal'>;
  runner: Pick<RunnerProcess<PodRunMessage>, 'run' | 'cancel'>;
  /** Reports the outcome of a run the runner never got (PodHost.outcome). */
  end: (run: PodRunMessage, outcome: ExecutionOutcome) => void;
  /** Tells the pool the run was refused, not run (it sends it to another runner). */
  refuse: (run: PodRunMessage, refusal: RunRefusal) => void;
  /** Runs this pod admits over its life (the pool's `executionsPerPod`); 0: no bound. */
  runsPerPod: number;
  warn: (message: string) => void;
}

/** What a pod has committed itself to (see {@link PodRuns.claim}). */
export interface PodClaim {
  admitted: number;
  tenant?: string;
}

export class PodRuns {
  readonly #deps: PodRunsDeps;
  /** Received, oldest first (bounded): each is run at most once. */
  readonly #received = new Set<string>();
  /** Received and not yet reported. */
  readonly #inFlight = new Set<string>();
  /** Being checked, not yet handed to the runner: whether a cancel came meanwhile. */
  readonly #checking = new Map<string, { cancelled: boolean }>();
  #draining = false;
  /** Runs admitted over the pod's life. */
  #admitted = 0;
  /** The tenant of the first run admitted: the only one this pod runs for. */
  #tenant: string | undefined;

  constructor(deps: PodRunsDeps) {
    this.#deps = deps;
  }

  /** Runs received and not yet reported, oldest first. */
  get inFlight(): ReadonlySet<string> {
    return this.#inFlight;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * The pod's claim, as it announces it: runs admitted over its life, and the tenant it is bound
   * to (none before its first run).
   */
  get claim(): PodClaim {
    return { admitted: this.#admitted, ...(this.#tenant !== undefined && { tenant: this.#tenant }) };
  }

  /** From now on runs are refused; those received run to their end. */
  drain(): void {
    this.#draining = true;
  }

  /** Takes a run the pool sent: checks it, then hands it to the runner. */
  receive(run: PodRunMessage): void {
    const { executionId } = run;
    // A controller that took over re-sends a run its runner does not list; if this pod did get
    // it after all, it must not run it a second time.
    if (this.#received.has(executionId)) {
      this.#deps.warn(`ignored a second run of ${executionId}`);
      return;
    }
    const refusal = this.#claimRefusal(run.execution.namespace);
    if (refusal) {
      this.#deps.warn(`refused ${executionId}: ${refusal.reason}`);
      this.#deps.refuse(run, refusal);
      return;
    }
    this.#admitted++;
    this.#tenant = run.execution.namespace;
    this.#received.add(executionId);
    if (this.#received.size > MAX_REMEMBERED_RUNS)
      this.#received.delete(this.#received.values().next().value!);
    this.#inFlight.add(executionId);
    const startedAt = Date.now();
    if (this.#draining) {
      // Refused, not dropped: the pool learns at once instead of at the deadline.
      const error = failureError(FailureReason.RunnerCrashed, 'the runner is shutting down');
      this.#deps.end(run, endedOutcome('failed', error, run.heapMb, 0));
      return;
    }
    const check = { cancelled: false };
    this.#checking.set(executionId, check);
    void this.#deps.heaps
      .refusal(run, run.execution.namespace)
      .catch((err: unknown) => (err instanceof Error ? err.message : String(err)))
      .then((refusal) => {
        this.#checking.delete(executionId);
        if (check.cancelled) this.#deps.end(run, endedOutcome('cancelled', cancelledError(), run.heapMb, 0));
        else if (refusal !== undefined) {
          const error = failureError(FailureReason.HeapError, refusal);
          this.#deps.end(run, endedOutcome('failed', error, run.heapMb, Date.now() - startedAt));
        } else void this.#deps.runner.run(run);
      });
  }

  /** Why the pod's claim does not cover a run of `namespace`, if it does not. */
  #claimRefusal(namespace: string): RunRefusal | undefined {
    const { runsPerPod } = this.#deps;
    if (runsPerPod > 0 && this.#admitted >= runsPerPod) return { reason: 'used-up' };
    if (this.#tenant !== undefined && this.#tenant !== namespace)
      return { reason: 'other-tenant', tenant: this.#tenant };
    return undefined;
  }

  /** Stops run `executionId`, whether still being checked or running. */
  cancel(executionId: string): void {
    const check = this.#checking.get(executionId);
    if (check) check.cancelled = true;
    else this.#deps.runner.cancel(executionId);
  }

  /** Run `executionId` was reported. */
  done(executionId: string): void {
    this.#inFlight.delete(executionId);
  }
}
