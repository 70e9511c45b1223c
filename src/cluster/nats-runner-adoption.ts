/**
 * Executions a {@link NatsRunnerPool} takes over from another pool (the previous leader's): the
 * run was sent from elsewhere, so this pool only awaits its outcome — from the runner, or from the
 * outcome stream when it came while nobody listened — and never sends it again, except once when
 * the runner says it never received it. If the runner then refuses it (its claim does not cover
 * it), it ran nowhere, and is run elsewhere.
 */
import type { ExecutionOutcome, RunRequest } from '../core/index.ts';
import { trackRun, type PendingRun } from '../core/runner-dispatch.ts';
import type { NatsRunnerPoolOptions, RunHooks } from './nats-runner-pool-options.ts';
import type { Runner, RunnerRoster } from './nats-runner-roster.ts';
import { readStoredOutcome, type StoredOutcome } from './outcome-stream.ts';
import { UNNAMED_RUN, podRunMessage, type PodRunMessage } from './runner-subjects.ts';

/** What the adoptions use of their pool. */
export interface AdoptionDeps {
  runners: RunnerRoster;
  /** `outcomes`: the outcome stream's manager; absent, outcomes are only awaited from the runners. */
  opts: Pick<NatsRunnerPoolOptions, 'subjectPrefix' | 'outcomes'>;
  /** Publishes to the runner; returns why it could not, if it could not. */
  send: (r: Runner, msg: PodRunMessage | { type: 'cancel'; executionId: string }) => string | undefined;
  /** Settles a run with its runner's outcome. */
  onOutcome: (r: Runner, msg: StoredOutcome) => void;
  /** The outcome of a run whose runner was lost. */
  lost: (p: PendingRun, message: string) => ExecutionOutcome;
  /** Whether an outcome stands for a refusal (the run was not run). */
  isRefusal: (outcome: ExecutionOutcome) => boolean;
  /** Runs `req` as a new run (on any runner that takes it; `hooks` record where). */
  rerun: (req: RunRequest, signal: AbortSignal, hooks: RunHooks) => Promise<ExecutionOutcome>;
}

export class RunnerAdoptions {
  readonly #deps: AdoptionDeps;

  constructor(deps: AdoptionDeps) {
    this.#deps = deps;
  }

  /**
   * Takes over an execution another pool sent to `runnerId`: its outcome is awaited like any
   * other, looked up in the outcome stream first in case it came while nobody listened. If the
   * runner is never heard from, the execution ends failed with the lost reason. If it says it does
   * not run it, it is sent it once ({@link check}); should it refuse it then, the run is sent
   * elsewhere (`hooks` record where). Never run twice: a pod ignores a run it already received.
   */
  async adopt(
    req: RunRequest,
    runnerId: string,
    startedAt: number,
    signal: AbortSignal,
    namespace: string,
    hooks: RunHooks,
  ): Promise<ExecutionOutcome> {
    const { runners, send } = this.#deps;
    const runner = runners.know(runnerId);
    runners.sent(runner, namespace);
    const sendCancel = () => send(runner, { type: 'cancel', executionId: req.executionId });
    const outcome = trackRun(
      runner.running,
      { req, onOutput: () => {}, startedAt, adopted: true },
      signal,
      sendCancel,
    );
    void this.#storedOutcome(runner, namespace, req.executionId);
    const ended = await outcome;
    return this.#deps.isRefusal(ended) ? this.#deps.rerun(req, signal, hooks) : ended;
  }

  /**
   * Adopted executions the runner says it does not run (`runs`: those it announced): finished
   * while nobody listened (the outcome stream has it), or never received — the previous controller
   * recorded the assignment and died before its run message left. Then it is sent now, once; the
   * runner ignores a run it has already received, so it cannot run twice.
   */
  check(runner: Runner, runs: ReadonlySet<string>): void {
    for (const [id, p] of runner.running) {
      if (!p.adopted || runs.has(id)) continue;
      p.adopted = false;
      const namespace = p.req.execution?.namespace ?? 'default';
      void this.#storedOutcome(runner, namespace, id).then((settled) => {
        if (settled || runner.running.get(id) !== p) return;
        // Its deadline counts from now, as the runner's own does.
        p.startedAt = Date.now();
        const message = podRunMessage(p.req);
        const error = message ? this.#deps.send(runner, message) : UNNAMED_RUN.message;
        if (error) {
          runner.running.delete(id);
          p.resolve(this.#deps.lost(p, error));
        }
      });
    }
  }

  /** Settles an adopted execution from the outcome stream, if its runner already published it. */
  async #storedOutcome(runner: Runner, namespace: string, executionId: string): Promise<boolean> {
    const { outcomes, subjectPrefix } = this.#deps.opts;
    if (!outcomes) return false;
    const stored = await readStoredOutcome(outcomes, subjectPrefix, namespace, executionId).catch(
      () => undefined,
    );
    if (!stored || !runner.running.has(executionId)) return false;
    this.#deps.onOutcome(runner, stored);
    return true;
  }
}
