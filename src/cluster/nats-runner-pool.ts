/**
 * The cluster RunnerPool: drives runner pods (src/runner/nats-entry.ts) over NATS. Runners are
 * known by id — a configured list plus those discovered from their announcements — and the pool
 * tracks which are ready, what each runs and which heap each holds live, sending the next cell
 * of a session to the runner holding its heap when that runner is free. Every run names its
 * Execution: the pod writes its output and heaps itself and publishes its outcome durably.
 *
 * A pod cannot be killed from here, so failures are declared rather than enforced:
 * - a runner silent for `heartbeatTimeoutMs` is lost: its executions fail with `lostReason`;
 * - an execution past its deadline + `deadlineGraceMs` ends timed_out;
 * - a cancel not acknowledged by an outcome within `cancelGraceMs` ends cancelled anyway.
 * In the last two cases the runner may still be busy with it: it is suspect and gets no work until
 * a heartbeat shows it runs no more than the pool gave it.
 *
 * A runner pod holds its own claim (pod-runs.ts): it refuses a run past its `executionsPerPod`
 * or of a tenant other than the one it is bound to. A refusal is not an outcome: the runner is
 * marked (used up, or bound to that tenant) and the run goes to another runner, or waits for one.
 * Runs are only routed to runners bound to their tenant or to none yet; when every runner is bound
 * to another tenant, an idle one is retired so a fresh pod takes its place.
 *
 * Memory (as the local supervisor acts on a runner's resident size): the pod's memory limit is the
 * kill line, enforced by the kernel; a runner whose heartbeats report a resident size above its
 * budget for `memoryGraceMs` — its own guards could not bring it down — gets no more work and is
 * retired once idle, so its owner replaces the pod.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  FailureReason,
  type ExecutionOutcome,
  type OutputLevel,
  type RunRequest,
  type RunnerPool,
  type RunnerPoolStats,
} from '../core/index.ts';
import { Mcpv8Error } from '../core/errors.ts';
import { cancelledOutcome, RunnerHeaps, failedOutcome, timedOutOutcome } from '../core/heap-commit.ts';
import {
  RunnerAnnouncementSchema,
  RunnerOutMessageSchema,
  allRunnersOut,
  type RefusedMessage,
  decodeJson,
  heartbeatSubject,
  podRunMessage,
  runnerTokenOf,
  type PodRunMessage,
} from './runner-subjects.ts';
import { dispatchRun, trackRun, type PendingRun } from '../core/runner-dispatch.ts';
import { RunnerRoster, type Runner } from './nats-runner-roster.ts';
import type { RunnerRetirement } from '../core/index.ts';
import {
  DEFAULT_NATS_RUNNER_POOL_OPTIONS,
  type NatsRunnerPoolOptions,
  type RunHooks,
} from './nats-runner-pool-options.ts';

export * from './nats-runner-pool-options.ts';
import { allOutcomes, readStoredOutcome, StoredOutcomeSchema, type StoredOutcome } from './outcome-stream.ts';

const WATCHDOG_INTERVAL_MS = 100;
const UNNAMED_RUN = new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
  'a run sent to a runner pod must name its Execution',
]);

type Pending = PendingRun;

/** Refusals one run may meet before it ends failed (each marks a runner, so few are expected). */
const MAX_REFUSALS = 16;

/** {@link RunnerPool} over NATS; the connection belongs to the caller. */
export class NatsRunnerPool implements RunnerPool {
  readonly #nc: NatsConnection;
  readonly #opts: NatsRunnerPoolOptions;
  readonly #runners: RunnerRoster;
  readonly #waiting: Array<() => void> = [];
  readonly #heaps: RunnerHeaps<Runner>;
  readonly #configured: ReadonlySet<string>;
  readonly #subs: Subscription[];
  readonly #watchdog: NodeJS.Timeout;
  /** Outcomes standing for "refused, not run": `run` sends the run again instead of returning them. */
  readonly #refusals = new WeakSet<ExecutionOutcome>();
  /** The runner last retired to make room for another tenant, until it is gone. */
  #recycling: Runner | undefined;
  #restarts = 0;
  #closed = false;

  constructor(nc: NatsConnection, opts: Partial<NatsRunnerPoolOptions> = {}) {
    this.#nc = nc;
    this.#opts = { ...DEFAULT_NATS_RUNNER_POOL_OPTIONS, ...opts };
    // Routes only: the pods store heaps and load chains themselves.
    this.#heaps = new RunnerHeaps<Runner>(undefined);
    this.#runners = new RunnerRoster(this.#opts);
    this.#configured = new Set(this.#opts.runners);
    for (const id of this.#opts.runners) this.#runners.know(id);
    const prefix = this.#opts.subjectPrefix;
    const on = (subject: string, handle: (data: unknown, subject: string) => void) =>
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (!err) handle(decodeJson(msg.data), msg.subject);
        },
      });
    this.#subs = [
      on(allRunnersOut(prefix), (data, subject) => {
        const token = runnerTokenOf(prefix, subject);
        const runner = token === undefined ? undefined : this.#runners.byToken(token);
        if (runner) this.#onReport(runner, data);
      }),
      on(heartbeatSubject(prefix), (data) => this.#onAnnouncement(data)),
      // Runner pods publish outcomes durably on their own subjects (outcome-stream.ts).
      on(allOutcomes(prefix), (data) => {
        const parsed = StoredOutcomeSchema.safeParse(data);
        const runner = parsed.success ? this.#runners.get(parsed.data.runnerId) : undefined;
        if (runner) this.#onOutcome(runner, parsed.data!);
      }),
    ];
    this.#watchdog = setInterval(() => this.#watch(), WATCHDOG_INTERVAL_MS);
    this.#watchdog.unref();
  }

  /** Resolves when at least `count` runners are ready (or rejects after `timeoutMs`). */
  async whenReady(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.stats().ready < count) {
      if (Date.now() > deadline) throw new Error('runners did not become ready in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** `req` must name its Execution; its output is in the tenant's output log, not `onOutput`. */
  async run(
    req: RunRequest,
    onOutput: (level: OutputLevel, text: string) => void,
    signal: AbortSignal,
    hooks: RunHooks = {},
  ): Promise<ExecutionOutcome> {
    const message = podRunMessage(req);
    if (!message) return failedOutcome(req, Date.now(), FailureReason.Error, UNNAMED_RUN.message);
    for (let refusals = 0; refusals < MAX_REFUSALS; refusals++) {
      const outcome = await this.#dispatch(req, message, onOutput, signal, hooks);
      if (!this.#refusals.has(outcome)) return outcome;
    }
    return failedOutcome(
      req,
      Date.now(),
      this.#opts.lostReason ?? FailureReason.RunnerCrashed,
      `the run was refused by ${MAX_REFUSALS} runners`,
    );
  }

  /** Sends the run to a runner with room for its tenant, waiting for one if none has. */
  #dispatch(
    req: RunRequest,
    message: PodRunMessage,
    onOutput: (level: OutputLevel, text: string) => void,
    signal: AbortSignal,
    hooks: RunHooks,
  ): Promise<ExecutionOutcome> {
    const tenant = message.execution.namespace;
    return dispatchRun(req, onOutput, signal, {
      freeRunner: () => {
        const free = this.#runners.free(this.#heaps.routes.holder(req.heap), tenant);
        if (!free) this.#recycleFor(tenant);
        return free;
      },
      closed: () => this.#closed,
      waiting: this.#waiting,
      sendRun: (r, run) => {
        r.runs++;
        // The pod binds itself to the tenant of its first run: so does its route here.
        r.tenant ??= tenant;
        const send = () => {
          const error = this.#send(r, message);
          // Not sent (e.g. over the server's max_payload): fail now rather than at the deadline.
          if (error) this.#unsend(r, run, failedOutcome(run, Date.now(), FailureReason.Error, error));
        };
        if (!hooks.assigned) return send();
        void hooks.assigned(r.id).then(
          (ok) => (ok ? send() : this.#unsend(r, run)),
          () => this.#unsend(r, run),
        );
      },
      sendCancel: (r, executionId) => this.#send(r, { type: 'cancel', executionId }),
    });
  }

  /**
   * Takes over an execution another pool sent to `runnerId` (the previous controller's): its
   * outcome is awaited like any other, looked up in the outcome stream first in case it came
   * while nobody listened. If the runner turns out not to run it, or is never heard from, the
   * execution ends failed with the lost reason; it is never sent again (never run twice).
   */
  adopt(
    req: RunRequest,
    runnerId: string,
    startedAt: number,
    signal: AbortSignal,
    namespace: string,
  ): Promise<ExecutionOutcome> {
    const runner = this.#runners.know(runnerId);
    runner.runs++;
    runner.tenant ??= namespace;
    const sendCancel = () => this.#send(runner, { type: 'cancel', executionId: req.executionId });
    const outcome = trackRun(
      runner.running,
      { req, onOutput: () => {}, startedAt, adopted: true },
      signal,
      sendCancel,
    );
    void this.#storedOutcome(runner, namespace, req.executionId);
    return outcome;
  }

  /** Changes `runsPerRunner` for runs not yet sent. */
  set runsPerRunner(n: number | undefined) {
    this.#opts.runsPerRunner = n;
  }

  /** Runners this pool uses: pods come and go, so their owner says which exist. */
  setMembers(ids: readonly string[]): void {
    const keep = new Set(ids.map((id) => this.#runners.know(id)));
    for (const r of [...this.#runners.all()]) {
      if (keep.has(r)) continue;
      this.#restarts++;
      this.#endAll(r, `the runner ${r.id} is gone`);
      this.#runners.forget(r);
    }
  }

  /**
   * Why `runnerId` is done with, once it runs nothing: it was given all its runs, or it stayed
   * over its memory budget; undefined while it is not.
   */
  retiredFor(runnerId: string): RunnerRetirement | undefined {
    const r = this.#runners.get(runnerId);
    return r !== undefined && r.running.size === 0 ? this.#runners.retiredFor(r) : undefined;
  }

  /** Ids of the runners that announced themselves and can take work (or do). */
  readyRunners(): string[] {
    return [...this.#runners.all()].filter((r) => r.ready && !r.draining).map((r) => r.id);
  }

  stats(): RunnerPoolStats {
    const all = [...this.#runners.all()];
    return {
      runners: all.length,
      ready: all.filter((r) => this.#runners.usable(r)).length,
      busy: all.reduce((n, r) => n + r.running.size, 0),
      waiting: this.#waiting.length,
      restarts: this.#restarts,
    };
  }

  /** Id of the runner running `executionId`, if it is running. */
  runnerOf(executionId: string): string | undefined {
    for (const r of this.#runners.all()) if (r.running.has(executionId)) return r.id;
    return undefined;
  }

  /**
   * Stops using the runners (pods are the controller's to stop); running executions are cancelled
   * and end failed — or, with `leaveRunning`, go on on their runners for another pool to adopt.
   */
  async close(opts: { leaveRunning?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    for (const s of this.#subs) s.unsubscribe();
    for (const r of this.#runners.all()) {
      if (!opts.leaveRunning)
        for (const id of r.running.keys()) this.#send(r, { type: 'cancel', executionId: id });
      this.#endAll(r, 'the runner pool is closed');
    }
    for (const wake of this.#waiting.splice(0)) wake();
    await this.#nc.flush().catch(() => undefined);
  }

  /** A run that was never sent (assignment not recorded, or not sendable): the runner is free again. */
  #unsend(r: Runner, req: RunRequest, outcome?: ExecutionOutcome): void {
    const pending = r.running.get(req.executionId);
    if (!pending) return;
    r.running.delete(req.executionId);
    r.runs--;
    // Nothing reached it: it is bound to no tenant yet.
    if (r.runs === 0) r.tenant = undefined;
    pending.resolve(outcome ?? cancelledOutcome(req, pending.startedAt));
    this.#wakeWaiting();
  }

  /** Settles an adopted execution from the outcome stream, if its runner already published it. */
  async #storedOutcome(runner: Runner, namespace: string, executionId: string): Promise<boolean> {
    if (!this.#opts.outcomes) return false;
    const stored = await readStoredOutcome(
      this.#opts.outcomes,
      this.#opts.subjectPrefix,
      namespace,
      executionId,
    ).catch(() => undefined);
    if (!stored || !runner.running.has(executionId)) return false;
    this.#onOutcome(runner, stored);
    return true;
  }

  #onAnnouncement(raw: unknown): void {
    const parsed = RunnerAnnouncementSchema.safeParse(raw);
    if (!parsed.success) return;
    const a = parsed.data;
    const known = this.#runners.get(a.runnerId);
    if (!known && !this.#opts.discover) return;
    const runner = known ?? this.#runners.know(a.runnerId);
    runner.draining = a.draining;
    this.#alive(runner, a.running);
    if (a.executions) this.#checkAdopted(runner, new Set(a.executions));
  }

  /**
   * Adopted executions the runner says it does not run: finished while nobody listened (the
   * outcome stream has it), or never received — the previous controller recorded the assignment
   * and died before its run message left. Then it is sent now, once; the runner refuses a run it
   * has already received, so it cannot run twice.
   */
  #checkAdopted(runner: Runner, runs: ReadonlySet<string>): void {
    for (const [id, p] of runner.running) {
      if (!p.adopted || runs.has(id)) continue;
      p.adopted = false;
      const namespace = p.req.execution?.namespace ?? 'default';
      void this.#storedOutcome(runner, namespace, id).then((settled) => {
        if (settled || runner.running.get(id) !== p) return;
        // Its deadline counts from now, as the runner's own does.
        p.startedAt = Date.now();
        const message = podRunMessage(p.req);
        const error = message ? this.#send(runner, message) : UNNAMED_RUN.message;
        if (error) {
          runner.running.delete(id);
          p.resolve(this.#lost(p, error));
        }
      });
    }
  }

  /** The runner was heard from; `running` is what it says it runs. */
  #alive(runner: Runner, running: number): void {
    runner.lastSeen = Date.now();
    if (!runner.ready) this.#opts.onReadinessChange?.(runner.id);
    runner.ready = true;
    // Whatever the pool gave up on has stopped: the runner can be trusted with work again.
    if (running <= runner.running.size) runner.suspect = false;
    if (this.#runners.usable(runner)) this.#wakeWaiting();
  }

  /** A message on the runner's `.out`: ready, a heartbeat, or an outcome JetStream did not take. */
  #onReport(runner: Runner, raw: unknown): void {
    const parsed = RunnerOutMessageSchema.safeParse(raw);
    if (!parsed.success) return; // a runner speaking nonsense is not trusted with this message
    const msg = parsed.data;
    switch (msg.type) {
      case 'ready':
        // A runner that (re)starts holds nothing it held before, and runs nothing.
        if (runner.lastSeen > 0) {
          this.#restarts++;
          this.#endAll(runner, `the runner ${runner.id} restarted`);
        }
        runner.suspect = false;
        this.#runners.resetMemory(runner);
        this.#alive(runner, 0);
        break;
      case 'heartbeat':
        if (this.#runners.noteMemory(runner, msg.rssBytes, msg.rssBudgetBytes ?? 0, this.#opts.memoryGraceMs))
          this.#retireIfIdle(runner);
        this.#alive(runner, msg.running);
        break;
      case 'outcome':
        this.#onOutcome(runner, msg);
        break;
      case 'refused':
        this.#onRefused(runner, msg);
        break;
    }
  }

  /**
   * The runner did not run the execution: it is marked so it gets no more such runs, and the run
   * is sent elsewhere (`run` retries on a refusal). An adopted run has nobody to send it again
   * here: it ends failed with the lost reason, as an adopted run its runner never got does.
   */
  #onRefused(runner: Runner, msg: RefusedMessage): void {
    runner.lastSeen = Date.now();
    const pending = runner.running.get(msg.executionId);
    if (!pending) return;
    runner.running.delete(msg.executionId);
    runner.runs--;
    if (msg.reason === 'other-tenant' && msg.tenant !== undefined) runner.tenant = msg.tenant;
    else runner.spent = true;
    if (pending.cancelledAt !== undefined) pending.resolve(cancelledOutcome(pending.req, pending.startedAt));
    else if (pending.adopted) pending.resolve(this.#lost(pending, `the runner ${runner.id} refused the run`));
    else {
      const refused = cancelledOutcome(pending.req, pending.startedAt);
      this.#refusals.add(refused);
      pending.resolve(refused);
    }
    this.#wakeWaiting();
    this.#retireIfIdle(runner);
  }

  #onOutcome(runner: Runner, msg: StoredOutcome): void {
    runner.lastSeen = Date.now();
    const pending = runner.running.get(msg.executionId);
    if (!pending) return;
    runner.running.delete(msg.executionId);
    if (msg.outcome.heap === undefined) pending.resolve(msg.outcome);
    else
      void this.#heaps
        .commit(runner, pending.req, msg.outcome, undefined, msg.heapCommitted === true)
        .then(pending.resolve);
    this.#wakeWaiting();
    this.#retireIfIdle(runner);
  }

  /**
   * No runner takes a run of `tenant` and none ever will (every one is bound to another): an idle
   * one is retired, so its owner replaces the pod with one bound to nobody. One at a time, and not
   * while a runner that could take it is still starting.
   */
  #recycleFor(tenant: string): void {
    const recycling = this.#recycling;
    if (recycling && this.#runners.get(recycling.id) === recycling) return;
    this.#recycling = undefined;
    let idle: Runner | undefined;
    for (const r of this.#runners.all()) {
      if (this.#runners.retired(r) || r.draining) continue;
      if (!r.ready || r.tenant === undefined || r.tenant === tenant) return;
      if (r.running.size === 0 && !r.suspect) idle ??= r;
    }
    if (!idle) return;
    idle.spent = true;
    this.#recycling = idle;
    this.#retireIfIdle(idle);
  }

  /** Tells the owner a retired runner has nothing left to run (so it discards the pod). */
  #retireIfIdle(runner: Runner): void {
    if (this.#runners.retired(runner) && runner.running.size === 0) this.#opts.onRetired?.(runner.id);
  }

  #watch(): void {
    const now = Date.now();
    for (const r of [...this.#runners.all()]) {
      const silentSince = r.ready ? r.lastSeen : r.knownAt;
      const waitedOn = r.ready || r.running.size > 0;
      if (waitedOn && now - silentSince > this.#opts.heartbeatTimeoutMs) {
        r.ready = false;
        this.#opts.onReadinessChange?.(r.id);
        this.#restarts++;
        this.#endAll(r, `the runner ${r.id} was lost (not heard from for ${now - silentSince} ms)`);
        // Discovered runners come and go (pods are replaced): only live ones are kept, so the
        // map stays bounded; one that announces itself again is simply discovered again.
        if (!this.#configured.has(r.id)) this.#runners.forget(r);
        continue;
      }
      for (const [id, p] of r.running) {
        let outcome: ExecutionOutcome | undefined;
        if (p.cancelledAt !== undefined && now - p.cancelledAt > this.#opts.cancelGraceMs)
          outcome = cancelledOutcome(p.req, p.startedAt);
        else if (now - p.startedAt > p.req.timeoutMs + this.#opts.deadlineGraceMs) {
          this.#send(r, { type: 'cancel', executionId: id });
          outcome = timedOutOutcome(p.req, p.startedAt);
        }
        if (!outcome) continue;
        r.running.delete(id);
        r.suspect = true;
        p.resolve(outcome);
      }
    }
  }

  /** Ends every execution of `runner` (it is gone or restarted) and forgets the heaps it held. */
  #endAll(runner: Runner, message: string): void {
    this.#heaps.routes.forget(runner);
    for (const p of runner.running.values()) {
      p.resolve(p.cancelledAt !== undefined ? cancelledOutcome(p.req, p.startedAt) : this.#lost(p, message));
    }
    runner.running.clear();
  }

  #lost(p: Pending, message: string): ExecutionOutcome {
    return failedOutcome(p.req, p.startedAt, this.#opts.lostReason ?? FailureReason.RunnerCrashed, message);
  }

  /** Publishes to the runner; returns why it could not, if it could not. */
  #send(r: Runner, msg: PodRunMessage | { type: 'cancel'; executionId: string }): string | undefined {
    try {
      if (this.#nc.isClosed()) return 'the NATS connection is closed';
      this.#nc.publish(r.in, JSON.stringify(msg));
      return undefined;
    } catch (err) {
      return `the ${msg.type} message could not be sent to the runner: ${String(err)}`;
    }
  }

  /**
   * A runner may have room: every waiting run looks again, in order (the first may be of a tenant
   * that runner does not take, while one behind it is).
   */
  #wakeWaiting(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}
