/**
 * The controller's view of its RunnerPools as places to run: one NatsRunnerPool (dispatch over
 * NATS, heap routing, runner loss) per RunnerPool object, made when first needed. Which pods
 * belong to a pool is the RunnerPool reconciler's to say (`setMembers`); used-up pods are
 * reported back to it so it replaces them.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { FailureReason, type RunnerPoolStats, type RunnerRetirement } from '../../core/index.ts';
import { NatsRunnerPool } from '../../cluster/nats-runner-pool.ts';

export interface RunnerPoolsOptions {
  nc: NatsConnection;
  /** The outcome stream's manager (adopted executions look outcomes up there). */
  outcomes: JetStreamManager;
  subjectPrefix: string;
  /** A runner silent this long is lost (its executions fail RunnerLost). */
  heartbeatTimeoutMs: number;
  /**
   * Told when a pod of the pool changed in a way its RunnerPool reconciler must see: it has run
   * all it may run (`executionsPerPod`) and can be discarded, or its runner became ready or was
   * lost (the pool's readyReplicas).
   */
  onPodChange: (poolKey: string, runnerId: string) => void;
}

export class RunnerPools {
  readonly #opts: RunnerPoolsOptions;
  readonly #pools = new Map<string, NatsRunnerPool>();

  constructor(opts: RunnerPoolsOptions) {
    this.#opts = opts;
  }

  /** The pool `key` (`<namespace>/<name>`) with `executionsPerPod`, made on first use. */
  get(key: string, executionsPerPod: number): NatsRunnerPool {
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new NatsRunnerPool(this.#opts.nc, {
        subjectPrefix: this.#opts.subjectPrefix,
        discover: false,
        concurrencyPerRunner: 1,
        heartbeatTimeoutMs: this.#opts.heartbeatTimeoutMs,
        runsPerRunner: executionsPerPod,
        lostReason: FailureReason.RunnerLost,
        outcomes: this.#opts.outcomes,
        onRetired: (runnerId) => this.#opts.onPodChange(key, runnerId),
        onReadinessChange: (runnerId) => this.#opts.onPodChange(key, runnerId),
      });
      this.#pools.set(key, pool);
    }
    // A changed executionsPerPod applies at once, to runs not yet sent.
    pool.runsPerRunner = executionsPerPod;
    return pool;
  }

  /** The pool `key` if it exists. */
  find(key: string): NatsRunnerPool | undefined {
    return this.#pools.get(key);
  }

  /** Runner pods of `key` that announced themselves and are not draining. */
  readyRunners(key: string): number {
    return this.find(key)?.readyRunners().length ?? 0;
  }

  /** Why the pod is done with (it ran all its executions, or stayed over its memory budget), if it is. */
  retiredFor(runnerId: string): RunnerRetirement | undefined {
    for (const pool of this.#pools.values()) {
      const why = pool.retiredFor(runnerId);
      if (why) return why;
    }
    return undefined;
  }

  setMembers(key: string, podNames: readonly string[], executionsPerPod: number): void {
    this.get(key, executionsPerPod).setMembers(podNames);
  }

  /** Forgets a deleted RunnerPool; its executions end failed (their pods go with it). */
  async remove(key: string): Promise<void> {
    const known = this.#pools.get(key);
    this.#pools.delete(key);
    await known?.close();
  }

  stats(): RunnerPoolStats {
    const all = [...this.#pools.values()].map((pool) => pool.stats());
    return {
      runners: sum(all, 'runners'),
      ready: sum(all, 'ready'),
      busy: sum(all, 'busy'),
      waiting: sum(all, 'waiting'),
      restarts: sum(all, 'restarts'),
    };
  }

  /** Stops dispatching; with `leaveRunning`, runs already sent go on (a new leader adopts them). */
  async close(opts: { leaveRunning?: boolean } = {}): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close(opts)));
  }
}

function sum(stats: RunnerPoolStats[], k: keyof RunnerPoolStats): number {
  return stats.reduce((n, s) => n + s[k], 0);
}
