/**
 * The runners a {@link NatsRunnerPool} knows, by id, and which of them can take work now: ready,
 * with a known claim, not draining, not suspect, with room under `concurrencyPerRunner`, runs
 * left under `runsPerRunner`, not over their memory budget, and not bound to another tenant (a
 * pod binds itself to the tenant of its first run). The pool owns the messaging; this owns the
 * bookkeeping.
 *
 * A runner's claim is what the pool sent it and what the pod announces it admitted, whichever
 * says more: a pool that takes over from another controller learns from the announcements which
 * pods already ran executions, and for which tenant, before it sends them anything.
 */
import type { RunnerRetirement } from '../core/index.ts';
import type { PendingRun } from '../core/runner-dispatch.ts';
import { subjectToken } from './nats-tokens.ts';
import type { NatsRunnerPoolOptions } from './nats-runner-pool-options.ts';
import { runnerSubjects } from './runner-subjects.ts';

/** One runner as the pool tracks it. */
export interface Runner {
  id: string;
  /** Subject the pool sends it messages on. */
  in: string;
  /** Heard from (ready or heartbeat) and not lost since. */
  ready: boolean;
  draining: boolean;
  /** May still run something the pool gave up on: no new work until a heartbeat clears it. */
  suspect: boolean;
  running: Map<string, PendingRun>;
  /**
   * Runs its pod last announced it has in hand, whoever sent them (another controller's too): it
   * is idle only when this and `running` are both empty.
   */
  inHand: number;
  lastSeen: number;
  /** Runs sent to it over its life (for `runsPerRunner`). */
  runs: number;
  /** When the pool first heard of it (an adopted runner never heard from is lost after a while). */
  knownAt: number;
  /** Since when its heartbeats report a resident size above its budget (undefined: they do not). */
  overBudgetSince?: number;
  /** Stayed over its memory budget: no more work, retired once idle. */
  overMemory: boolean;
  /**
   * Said it is used up (the pod's own count wins over `runs`), or was given up to make room for
   * another tenant: retired once idle.
   */
  spent: boolean;
  /**
   * The tenant (namespace) it runs for: the one the pod announced or said when refusing, else that
   * of the first run sent.
   */
  tenant?: string;
  /**
   * The pod's own claim as it last announced it (runs admitted over its life, bound tenant);
   * undefined until an announcement is heard, and until then it gets no work.
   */
  claim?: RunnerClaim;
}

/** What a runner pod announces it has committed itself to (pod-runs.ts). */
export interface RunnerClaim {
  admitted: number;
  tenant?: string;
}

/** What the roster reads of the pool's options. */
type RosterOptions = Pick<NatsRunnerPoolOptions, 'subjectPrefix' | 'concurrencyPerRunner' | 'runsPerRunner'>;

export class RunnerRoster {
  readonly #opts: RosterOptions;
  /** By subject token. */
  readonly #runners = new Map<string, Runner>();

  /** `opts` is read live: a changed `runsPerRunner` applies at once. */
  constructor(opts: RosterOptions) {
    this.#opts = opts;
  }

  /** The runner `id`, made known (not yet ready) when it was not. */
  know(id: string): Runner {
    const token = subjectToken(id, 'runner id');
    let runner = this.#runners.get(token);
    if (!runner) {
      runner = {
        id,
        in: runnerSubjects(this.#opts.subjectPrefix, id).in,
        ready: false,
        draining: false,
        suspect: false,
        running: new Map(),
        inHand: 0,
        lastSeen: 0,
        runs: 0,
        knownAt: Date.now(),
        overMemory: false,
        spent: false,
      };
      this.#runners.set(token, runner);
    }
    return runner;
  }

  get(id: string): Runner | undefined {
    return this.#runners.get(subjectToken(id, 'runner id'));
  }

  /** By the subject token a `.out` subject carries. */
  byToken(token: string): Runner | undefined {
    return this.#runners.get(token);
  }

  forget(runner: Runner): void {
    this.#runners.delete(subjectToken(runner.id, 'runner id'));
  }

  all(): IterableIterator<Runner> {
    return this.#runners.values();
  }

  get size(): number {
    return this.#runners.size;
  }

  /**
   * A runner with room for a run of `tenant`: `holder` (the one holding the heap live) when it has
   * room, else the least busy.
   */
  free(holder: Runner | undefined, tenant?: string): Runner | undefined {
    const fits = (r: Runner) =>
      this.hasRoom(r) && r.claim !== undefined && (r.tenant === undefined || r.tenant === tenant);
    if (holder && fits(holder)) return holder;
    let best: Runner | undefined;
    for (const r of this.#runners.values()) {
      if (fits(r) && (!best || r.running.size < best.running.size)) best = r;
    }
    return best;
  }

  usable(r: Runner): boolean {
    return r.ready && !r.draining && !r.suspect;
  }

  hasRoom(r: Runner): boolean {
    return this.usable(r) && !this.retired(r) && r.running.size < this.#opts.concurrencyPerRunner;
  }

  /** Given all the runs it may have: by this pool, or by any other its pod admitted runs from. */
  usedUp(r: Runner): boolean {
    const { runsPerRunner } = this.#opts;
    return (
      r.spent || (runsPerRunner !== undefined && Math.max(r.runs, r.claim?.admitted ?? 0) >= runsPerRunner)
    );
  }

  /**
   * Notes the claim `r`'s pod announced; its admitted runs count towards `runsPerRunner`. Its
   * binding is taken only while the pool knows none: a pod never moves itself to another tenant
   * (code that escaped its isolate could say anything), so a word that contradicts the binding
   * the pool holds retires it instead.
   */
  noteClaim(r: Runner, claim: RunnerClaim): void {
    r.claim = claim;
    if (claim.tenant === undefined) return;
    if (r.tenant === undefined) r.tenant = claim.tenant;
    else if (r.tenant !== claim.tenant) r.spent = true;
  }

  /** A run was sent to `r` (it binds to the run's tenant, as the pod does on its first). */
  sent(r: Runner, tenant: string): void {
    r.runs++;
    r.tenant ??= tenant;
  }

  /** A run counted by {@link sent} never reached `r`: its binding is the pod's again. */
  unsent(r: Runner): void {
    r.runs--;
    if (r.runs === 0) r.tenant = r.claim?.tenant;
  }

  /**
   * `r` refused a run, which does not count against it: it is used up (retired once idle), or
   * bound to `tenant` — taken only when nothing but the refused run bound it here (a pod the pool
   * gave no other run and heard no binding from); a pod that contradicts what the pool knows is
   * retired rather than moved to another tenant.
   */
  refused(r: Runner, tenant: string | undefined): void {
    r.runs--;
    if (tenant !== undefined && r.runs === 0 && r.claim?.tenant === undefined) r.tenant = tenant;
    else r.spent = true;
  }

  /**
   * An idle runner to retire so a fresh pod can take a run of `tenant`, when none takes it and none
   * ever will (every one is bound to another tenant); undefined while one could take it or is
   * still starting.
   */
  recyclable(tenant: string): Runner | undefined {
    let idle: Runner | undefined;
    for (const r of this.#runners.values()) {
      if (this.retired(r) || r.draining) continue;
      if (!r.ready || r.claim === undefined || r.tenant === undefined || r.tenant === tenant)
        return undefined;
      if (this.idle(r) && !r.suspect) idle ??= r;
    }
    return idle;
  }

  /** Runs nothing, by the pool's account and by its pod's. */
  idle(r: Runner): boolean {
    return r.running.size === 0 && r.inHand === 0;
  }

  /** Gets no more work: used up, or over its memory budget. */
  retired(r: Runner): boolean {
    return this.retiredFor(r) !== undefined;
  }

  /** Why `r` gets no more work, if it does not. */
  retiredFor(r: Runner): RunnerRetirement | undefined {
    if (r.overMemory) return 'over-memory';
    return this.usedUp(r) ? 'used-up' : undefined;
  }

  /**
   * Notes a heartbeat's resident size against the runner's budget (0: none); true when the runner
   * has now stayed above it for `graceMs` and is over memory from here on.
   */
  noteMemory(r: Runner, rssBytes: number, budgetBytes: number, graceMs: number): boolean {
    if (budgetBytes <= 0 || rssBytes <= budgetBytes) {
      r.overBudgetSince = undefined;
      return false;
    }
    const now = Date.now();
    r.overBudgetSince ??= now;
    if (r.overMemory || now - r.overBudgetSince < graceMs) return false;
    r.overMemory = true;
    return true;
  }

  /** A runner that (re)started holds none of the memory it held. */
  resetMemory(r: Runner): void {
    r.overBudgetSince = undefined;
    r.overMemory = false;
  }
}
