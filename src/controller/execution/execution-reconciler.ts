/**
 * Reconciles one Execution (key `<namespace>/<name>`), level-triggered: whatever the event, it
 * looks at the object as it is now and moves it one step towards its end.
 *
 * - Pending: a runner is chosen from the named RunnerPool; the assignment (phase Running,
 *   `status.runner` — the pod and its node —, start time) is written with a compare-and-set
 *   BEFORE the run is sent, so a controller that takes over later knows where it runs, and a
 *   cancel that wins the race means the run is never sent.
 * - Running and not followed by this process (the previous leader sent it): adopted — its
 *   outcome is awaited from the runner or found in the outcome stream; never sent again.
 * - `spec.cancelRequested`: a Pending execution ends Cancelled at once; a running one is
 *   cancelled on its runner.
 * - Finished: deleted `spec.ttlSecondsAfterFinished` after completion (output and heaps stay).
 * - Its runner lost (pod gone or silent): Failed `RunnerLost`, or `OutOfMemory` naming the pod's
 *   limit when the pod's status says the kernel killed the runner for memory (runner-pod-end.ts).
 * Runs are followed in the background, so a worker is never held for an execution's duration;
 * the terminal status is written through the store's compare-and-set (a 409 is recomputed).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  FailureReason,
  TERMINAL_STATUSES,
  failureError,
  cancelledError,
  endedOutcome,
  type ExecutionOutcome,
  type ExecutionRecord,
  type ExecutionStore,
  type RunRequest,
} from '../../core/index.ts';
import type { Execution } from '../../api/v1alpha1/index.ts';
import { recordOf } from '../../cluster/execution-resource.ts';
import type { RunnerPool as RunnerPoolObject } from '../../api/v1alpha1/index.ts';
import type { NatsRunnerPool, RunHooks } from '../../cluster/nats-runner-pool.ts';
import { aborted, type Informer, type ReconcileResult, type Reconciler } from '../runtime/index.ts';
import type { SessionStores } from '../../core/tenant-stores.ts';
import { recordSessionCell } from '../session-commit.ts';
import { explainLostOutcome, type RunnerPodEnds } from '../runner-pool/runner-pod-end.ts';
import { EGRESS_TOKEN_GRACE_MS, type EgressTokenKey } from '../../cluster/egress-token.ts';

/** What the reconciler reports to watchers (events, metrics). */
export interface ExecutionObserver {
  assigned(execution: Execution, runner: string, queuedMs: number): void;
  finished(execution: Execution, outcome: ExecutionOutcome): void;
  /** The named RunnerPool does not exist (yet). */
  poolMissing(execution: Execution, pool: string): void;
  expired(execution: Execution): void;
}

export interface ExecutionReconcilerOptions {
  /** The informer cache of Executions. */
  executions: { get(key: string): Execution | undefined };
  /** The informer cache of RunnerPools (in the controller's namespace). */
  runnerPools: { get(key: string): RunnerPoolObject | undefined };
  /** Namespace RunnerPools (and runner pods) live in. */
  poolNamespace: string;
  /**
   * The informer cache of runner pods (in `poolNamespace`): the node an assigned pod is bound to
   * is recorded with the assignment. Absent: no node is recorded.
   */
  runnerPods?: Pick<Informer<V1Pod>, 'get'>;
  /** Status writes (compare-and-set) on Execution objects. */
  store: Pick<ExecutionStore, 'transition'>;
  /** Deletes a finished Execution if it is still the one described. */
  deleteExecution: (namespace: string, name: string, uid: string) => Promise<unknown>;
  /** The dispatcher of each RunnerPool (runner-pools.ts). */
  pools: { get(key: string, executionsPerPod: number): Dispatcher };
  /**
   * How runner pods ended (the pod informer's view): an execution whose runner was lost ends
   * `OutOfMemory` when its pod was killed at its memory limit. Absent: every loss is RunnerLost.
   */
  podEnds?: Pick<RunnerPodEnds, 'endOf'>;
  /** Session log and tags of a tenant; absent: stateless (no heaps are committed). */
  sessions?: (namespace: string) => Promise<SessionStores>;
  observer?: ExecutionObserver;
  /** Queues a key for another reconcile (the controller's queue). */
  requeue?: (key: string) => void;
  now?: () => Date;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /**
   * With an egress broker: mints the run's egress token (cluster/egress-token.ts), carried in the
   * run message to the pod. Absent: runs carry none (pods perform their own requests).
   */
  egressKey?: Pick<EgressTokenKey, 'mint'>;
}

/** What the reconciler uses of a RunnerPool's dispatcher ({@link NatsRunnerPool}). */
export type Dispatcher = Pick<NatsRunnerPool, 'run' | 'adopt'>;

/** A RunnerPool object and the dispatcher to its pods. */
interface PoolRef {
  key: string;
  object: RunnerPoolObject;
  runners: Dispatcher;
}

/** How long to wait before looking again for a RunnerPool that does not exist. */
const POOL_MISSING_RETRY_MS = 5000;

export class ExecutionReconciler implements Reconciler {
  readonly #opts: ExecutionReconcilerOptions;
  /** Executions this process follows, by key; aborting cancels the run. */
  readonly #inflight = new Map<string, AbortController>();
  #stopped = false;

  constructor(opts: ExecutionReconcilerOptions) {
    this.#opts = opts;
  }

  /** Executions followed by this process now. */
  inflight(): number {
    return this.#inflight.size;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    if (this.#stopped) return;
    const execution = this.#opts.executions.get(key);
    const followed = this.#inflight.get(key);
    if (!execution) {
      // Deleted while it ran: stop it; nobody is left to read its result.
      followed?.abort();
      return;
    }
    const record = recordOf(execution);
    if (TERMINAL_STATUSES.has(record.status)) return this.#expire(execution, record);
    if (execution.spec.cancelRequested) {
      if (followed) {
        followed.abort();
        return;
      }
      if (record.status === 'queued') {
        await this.#finish(execution, record, ['queued'], cancelled(record));
        return;
      }
    }
    if (followed) return;
    const pool = this.#pool(execution);
    if (!pool) {
      this.#opts.observer?.poolMissing(execution, execution.spec.runnerPool);
      return { requeueAfterMs: POOL_MISSING_RETRY_MS };
    }
    this.#follow(key, execution, record, pool);
  }

  /**
   * Stops following executions (leadership ended) without touching them: they keep running on
   * their pods, and the next leader adopts them. Nothing more is written or sent from here.
   */
  stopAll(): void {
    this.#stopped = true;
  }

  /**
   * Runs while this process leads, as a part of its manager: when leadership ends it stops
   * ({@link stopAll}) before the Lease is released, so no run is sent once another controller
   * may be sending runs to the same pods.
   */
  async start(signal: AbortSignal): Promise<void> {
    await aborted(signal);
    this.stopAll();
  }

  #pool(execution: Execution): PoolRef | undefined {
    const key = `${this.#opts.poolNamespace}/${execution.spec.runnerPool}`;
    const object = this.#opts.runnerPools.get(key);
    return object && { key, object, runners: this.#opts.pools.get(key, object.spec.executionsPerPod) };
  }

  #follow(key: string, execution: Execution, record: ExecutionRecord, pool: PoolRef): void {
    const abort = new AbortController();
    this.#inflight.set(key, abort);
    const req = this.#request(execution, record);
    // Set when the assignment's compare-and-set found the execution no longer Pending: whoever
    // moved it (a cancel, another controller) owns the next step, not this run.
    let claimLost = false;
    let runner = record.runner;
    const hooks: RunHooks = {
      assigned: async (chosen) => {
        if (this.#stopped) return false;
        // Set already: the runner before refused the run (its pod's claim), this one takes it.
        const reassigned = runner !== undefined;
        runner = chosen;
        const ok = await this.#assign(execution, record, chosen, reassigned);
        claimLost = !ok;
        // Leadership ended meanwhile: not sent; the next leader adopts it and, as its pod never
        // got it, sends it once.
        return ok && !this.#stopped;
      },
    };
    const run =
      record.status === 'queued'
        ? pool.runners.run(req, () => {}, abort.signal, hooks)
        : record.runner === undefined
          ? Promise.resolve(lostUnassigned(record))
          : pool.runners.adopt(
              req,
              record.runner,
              Date.parse(record.startedAt ?? record.createdAt),
              abort.signal,
              record.namespace,
              hooks,
            );
    void run
      .then(async (outcome) => {
        // Leadership ended: leave the status as it is for the next leader to adopt.
        if (this.#stopped || claimLost) return;
        const explained = await this.#explainLoss(outcome, runner);
        if (this.#stopped) return;
        const final = await this.#withSession(record, explained);
        await this.#finish(execution, record, ['queued', 'running'], final);
      })
      .catch((err: unknown) => this.#opts.log?.error({ err, key }, 'following an execution failed'))
      .finally(() => {
        this.#inflight.delete(key);
        // Changes seen while it was followed were skipped: look at it afresh.
        if (claimLost) this.#opts.requeue?.(key);
      });
  }

  #request(execution: Execution, record: ExecutionRecord): RunRequest {
    const executionId = `${record.namespace}/${record.id}`;
    const timeoutMs = record.limits.timeoutSeconds * 1000;
    const egressKey = this.#opts.egressKey;
    return {
      ...(egressKey && {
        egressToken: egressKey.mint({
          namespace: record.namespace,
          executionId,
          expiresAt: this.#now().getTime() + timeoutMs + EGRESS_TOKEN_GRACE_MS,
        }),
      }),
      executionId,
      code: record.code,
      language: record.language,
      heapMb: record.limits.heapMemoryMaxMb,
      timeoutMs: record.limits.timeoutSeconds * 1000,
      execution: { namespace: record.namespace, name: record.id },
      ...(this.#opts.sessions && {
        persist: true,
        ...(execution.spec.heap && { heap: execution.spec.heap }),
      }),
    };
  }

  /**
   * Records the assignment; false when the execution is no longer Pending (cancelled, gone) — or,
   * `reassigned` (its runner refused it), no longer Running.
   */
  async #assign(
    execution: Execution,
    record: ExecutionRecord,
    runner: string,
    reassigned = false,
  ): Promise<boolean> {
    const now = this.#now();
    // The scheduler's binding, from the cache: the pod announced itself, so it is bound already.
    const runnerNode = this.#opts.runnerPods?.get(`${this.#opts.poolNamespace}/${runner}`)?.spec?.nodeName;
    const started = reassigned
      ? await this.#opts.store.transition(record.namespace, record.id, ['running'], { runner, runnerNode })
      : await this.#opts.store.transition(record.namespace, record.id, ['queued'], {
          status: 'running',
          startedAt: now.toISOString(),
          runner,
          runnerNode,
        });
    if (started && !reassigned)
      this.#opts.observer?.assigned(execution, runner, now.getTime() - Date.parse(record.createdAt));
    return started !== undefined;
  }

  /** A lost runner's executions: why its pod ended decides their reason (OutOfMemory or RunnerLost). */
  async #explainLoss(outcome: ExecutionOutcome, runner: string | undefined): Promise<ExecutionOutcome> {
    const ends = this.#opts.podEnds;
    if (!ends || runner === undefined || outcome.error?.reason !== FailureReason.RunnerLost) return outcome;
    return explainLostOutcome(outcome, await ends.endOf(runner));
  }

  async #withSession(record: ExecutionRecord, outcome: ExecutionOutcome): Promise<ExecutionOutcome> {
    if (outcome.heap === undefined || !this.#opts.sessions) return outcome;
    const stores = await this.#opts.sessions(record.namespace);
    return recordSessionCell(stores, record, outcome, outcome.heap, this.#now());
  }

  async #finish(
    execution: Execution,
    record: ExecutionRecord,
    from: ExecutionRecord['status'][],
    outcome: ExecutionOutcome,
  ): Promise<void> {
    const done = await this.#opts.store.transition(record.namespace, record.id, from, {
      status: outcome.status,
      completedAt: this.#now().toISOString(),
      outcome,
    });
    if (done) this.#opts.observer?.finished(execution, outcome);
  }

  /** Deletes a finished Execution once its TTL passed; else looks again when it will have. */
  async #expire(execution: Execution, record: ExecutionRecord): Promise<ReconcileResult | void> {
    const completed = Date.parse(record.completedAt ?? record.createdAt);
    const left = completed + execution.spec.ttlSecondsAfterFinished * 1000 - this.#now().getTime();
    if (left > 0) return { requeueAfterMs: left };
    await this.#opts.deleteExecution(record.namespace, record.id, execution.metadata?.uid ?? '');
    this.#opts.observer?.expired(execution);
  }

  #now(): Date {
    return this.#opts.now?.() ?? new Date();
  }
}

function cancelled(record: ExecutionRecord): ExecutionOutcome {
  return endedOutcome('cancelled', cancelledError(), record.limits.heapMemoryMaxMb, 0);
}

/** Running with no runner recorded: nothing can be awaited, and re-running is not allowed. */
function lostUnassigned(record: ExecutionRecord): ExecutionOutcome {
  const error = failureError(FailureReason.RunnerLost, 'the execution is running on no known runner');
  return endedOutcome('failed', error, record.limits.heapMemoryMaxMb, 0);
}
