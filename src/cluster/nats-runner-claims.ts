/**
 * What a {@link NatsRunnerPool} does about the claims runner pods hold on themselves (pod-runs.ts):
 * a claim a pod announces is applied to its runner (used up: retired once idle; bound: only its
 * tenant's runs); a run a pod refused all the same (its claim changed before it was heard) is
 * sent elsewhere rather than ended; and when every runner is bound to another tenant, an idle one
 * is retired so its owner replaces the pod with one bound to nobody. The roster holds the
 * bookkeeping, this the decisions.
 */
import { cancelledOutcome, failedOutcome } from '../core/heap-commit.ts';
import { FailureReason, type ExecutionOutcome, type RunRequest } from '../core/index.ts';
import type { NatsRunnerPoolOptions } from './nats-runner-pool-options.ts';
import type { PendingRun } from '../core/runner-dispatch.ts';
import type { Runner, RunnerRoster } from './nats-runner-roster.ts';
import type { RefusedMessage, RunnerAnnouncement } from './runner-subjects.ts';

/** What the claims use of their pool. */
export interface ClaimDeps {
  runners: RunnerRoster;
  /**
   * `onRetired`: told once a retired runner has nothing left to run (its owner discards the pod);
   * `lostReason`: of a run every runner tried refused (default RunnerCrashed).
   */
  opts: Pick<NatsRunnerPoolOptions, 'onRetired' | 'lostReason'>;
  /** The outcome of a run whose runner was lost. */
  lost: (p: PendingRun, message: string) => ExecutionOutcome;
  /** A runner may have room: waiting runs look again. */
  wake: () => void;
}

/** Refusals one run may meet before it ends failed (each marks a runner, so few are expected). */
const MAX_REFUSALS = 16;

export class RunnerClaims {
  readonly #deps: ClaimDeps;
  /** Outcomes standing for "refused, not run": `run` sends the run again instead of returning them. */
  readonly #refusals = new WeakSet<ExecutionOutcome>();
  /** The runner last retired to make room for another tenant, until it is gone. */
  #recycling: Runner | undefined;

  constructor(deps: ClaimDeps) {
    this.#deps = deps;
  }

  /** Whether `outcome` stands for a run its runner refused (it was not run). */
  isRefusal(outcome: ExecutionOutcome): boolean {
    return this.#refusals.has(outcome);
  }

  /** Dispatches `req` again while the runner it went to refused it (at most {@link MAX_REFUSALS} times). */
  async untilAccepted(req: RunRequest, dispatch: () => Promise<ExecutionOutcome>): Promise<ExecutionOutcome> {
    for (let refusals = 0; refusals < MAX_REFUSALS; refusals++) {
      const outcome = await dispatch();
      if (!this.#refusals.has(outcome)) return outcome;
    }
    return failedOutcome(
      req,
      Date.now(),
      this.#deps.opts.lostReason ?? FailureReason.RunnerCrashed,
      `the run was refused by ${MAX_REFUSALS} runners`,
    );
  }

  /**
   * Applies what a runner announced of its claim and of the runs it has in hand: one it shows used
   * up is retired once idle — by its pod's word too, as a run another controller sent it is
   * nowhere in this pool's account.
   */
  announced(runner: Runner, a: Pick<RunnerAnnouncement, 'admitted' | 'tenant' | 'running'>): void {
    const wasDone = this.#done(runner);
    this.#deps.runners.noteClaim(runner, {
      admitted: a.admitted ?? 0,
      ...(a.tenant !== undefined && { tenant: a.tenant }),
    });
    runner.inHand = a.running;
    if (!wasDone) this.retireIfIdle(runner);
  }

  /**
   * The runner did not run the execution: it is marked so it gets no more such runs, and the run
   * is sent elsewhere ({@link untilAccepted} dispatches it again). An adopted run has nobody to
   * send it again here: it ends failed with the lost reason, as an adopted run its runner never
   * got does.
   */
  refused(runner: Runner, msg: RefusedMessage): void {
    runner.lastSeen = Date.now();
    const pending = runner.running.get(msg.executionId);
    if (!pending) return;
    runner.running.delete(msg.executionId);
    this.#deps.runners.refused(runner, msg.reason === 'other-tenant' ? msg.tenant : undefined);
    if (pending.cancelledAt !== undefined) pending.resolve(cancelledOutcome(pending.req, pending.startedAt));
    else if (pending.adopted)
      pending.resolve(this.#deps.lost(pending, `the runner ${runner.id} refused the run`));
    else {
      const refused = cancelledOutcome(pending.req, pending.startedAt);
      this.#refusals.add(refused);
      pending.resolve(refused);
    }
    this.#deps.wake();
    this.retireIfIdle(runner);
  }

  /**
   * No runner takes a run of `tenant` and none ever will (every one is bound to another): an idle
   * one is retired, so its owner replaces the pod with one bound to nobody. One at a time, and not
   * while a runner that could take it is still starting.
   */
  recycleFor(tenant: string): void {
    const { runners } = this.#deps;
    const recycling = this.#recycling;
    if (recycling && runners.get(recycling.id) === recycling) return;
    this.#recycling = undefined;
    const idle = runners.recyclable(tenant);
    if (!idle) return;
    idle.spent = true;
    this.#recycling = idle;
    this.retireIfIdle(idle);
  }

  /** Tells the owner a retired runner has nothing left to run (so it discards the pod). */
  retireIfIdle(runner: Runner): void {
    if (this.#done(runner)) this.#deps.opts.onRetired?.(runner.id);
  }

  #done(runner: Runner): boolean {
    return this.#deps.runners.retired(runner) && this.#deps.runners.idle(runner);
  }
}
