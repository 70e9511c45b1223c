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
 * or of a tenant other than the one it is bound to, and announces what it admitted and for which
 * tenant. A runner gets no work before its claim is heard, so a pool that takes over from another
 * controller sends nothing to a pod that would refuse it; a refusal all the same (a claim that
 * changed meanwhile) sends the run elsewhere (nats-runner-claims.ts). Executions taken over from
 * another pool are followed by nats-runner-adoption.ts.
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
  type RunnerRetirement,
} from '../core/index.ts';
import { cancelledOutcome, RunnerHeaps, failedOutcome, timedOutOutcome } from '../core/heap-commit.ts';
import {
  RunnerAnnouncementSchema,
  RunnerOutMessageSchema,
  allRunnersOut,
  UNNAMED_RUN,
  decodeJson,
  heartbeatSubject,
  podRunMessage,
  runnerTokenOf,
  type PodRunMessage,
} from './runner-subjects.ts';
import { dispatchRun, type PendingRun } from '../core/runner-dispatch.ts';
import { RunnerAdoptions } from './nats-runner-adoption.ts';
import { RunnerClaims } from './nats-runner-claims.ts';
import { RunnerRoster, type Runner } from './nats-runner-roster.ts';
import {
  DEFAULT_NATS_RUNNER_POOL_OPTIONS,
  type NatsRunnerPoolOptions,
  type RunHooks,
} from './nats-runner-pool-options.ts';

export * from './nats-runner-pool-options.ts';
import { allOutcomes, StoredOutcomeSchema, type StoredOutcome } from './outcome-stream.ts';

const WATCHDOG_INTERVAL_MS = 100;

/** {@link RunnerPool} over NATS; the connection belongs to the caller. */
export class NatsRunnerPool implements RunnerPool {
  readonly #nc: NatsConnection;
  readonly #opts: NatsRunnerPoolOptions;
  readonly #runners: RunnerRoster;
  readonly #waiting: Array<() => void> = [];
  readonly #heaps: RunnerHeaps<Runner>;
  readonly #adoptions: RunnerAdoptions;
  readonly #claims: RunnerClaims;
  readonly #configured: ReadonlySet<string>;
  readonly #subs: Subscription[];
  readonly #watchdog: NodeJS.Timeout;
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
    this.#adoptions = new RunnerAdoptions({
      runners: this.#runners,
      opts: this.#opts,
      send: (r, msg) => this.#send(r, msg),
      onOutcome: (r, msg) => this.#onOutcome(r, msg),
      lost: (p, message) => this.#lost(p, message),
      isRefusal: (outcome) => this.#claims.isRefusal(outcome),
      rerun: (req, signal, hooks) => this.run(req, () => {}, signal, hooks),
    });
    this.#claims = new RunnerClaims({
      runners: this.#runners,
      opts: this.#opts,
      lost: (p, message) => this.#lost(p, message),
      wake: () => this.#wakeWaiting(),
    });
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
    return this.#claims.untilAccepted(req, () => this.#dispatch(req, message, onOutput, signal, hooks));
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
        if (!free) this.#claims.recycleFor(tenant);
        return free;
      },
      closed: () => this.#closed,
      waiting: this.#waiting,
      sendRun: (r, run) => {
        // The pod binds itself to the tenant of its first run: so does its route here.
        this.#runners.sent(r, tenant);
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

  /** Takes over an execution another pool sent to `runnerId` (see {@link RunnerAdoptions.adopt}). */
  adopt(
    req: RunRequest,
    runnerId: string,
    startedAt: number,
    signal: AbortSignal,
    namespace: string,
    hooks: RunHooks = {},
  ): Promise<ExecutionOutcome> {
    return this.#adoptions.adopt(req, runnerId, startedAt, signal, namespace, hooks);
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
   * Why `runnerId` is done with, once it runs nothing (by the pool's account and its pod's): it
   * was given all its runs, or it stayed over its memory budget; undefined while it is not.
   */
  retiredFor(runnerId: string): RunnerRetirement | undefined {
    const r = this.#runners.get(runnerId);
    return r !== undefined && this.#runners.idle(r) ? this.#runners.retiredFor(r) : undefined;
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
    // Nothing reached it: it is bound to no tenant but the one its pod announced.
    this.#runners.unsent(r);
    pending.resolve(outcome ?? cancelledOutcome(req, pending.startedAt));
    this.#wakeWaiting();
  }

  #onAnnouncement(raw: unknown): void {
    const parsed = RunnerAnnouncementSchema.safeParse(raw);
    if (!parsed.success) return;
    const a = parsed.data;
    const known = this.#runners.get(a.runnerId);
    if (!known && !this.#opts.discover) return;
    const runner = known ?? this.#runners.know(a.runnerId);
    this.#claims.announced(runner, a);
    runner.draining = a.draining;
    this.#alive(runner, a.running);
    if (a.executions) this.#adoptions.check(runner, new Set(a.executions));
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
          this.#claims.retireIfIdle(runner);
        this.#alive(runner, msg.running);
        break;
      case 'outcome':
        this.#onOutcome(runner, msg);
        break;
      case 'refused':
        this.#claims.refused(runner, msg);
        break;
    }
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
    this.#claims.retireIfIdle(runner);
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

  #lost(p: PendingRun, message: string): ExecutionOutcome {
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
