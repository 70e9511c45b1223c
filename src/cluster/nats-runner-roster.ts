/**
 * The runners a {@link NatsRunnerPool} knows, by id, and which of them can take work now: ready,
 * not draining, not suspect, with room under `concurrencyPerRunner`, runs left under
 * `runsPerRunner`, not over their memory budget, and not bound to another tenant (a pod binds
 * itself to the tenant of its first run). The pool owns the messaging; this owns the bookkeeping.
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
  /** The tenant (namespace) it runs for: that of the first run sent, or the one it said when refusing. */
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
    const fits = (r: Runner) => this.hasRoom(r) && (r.tenant === undefined || r.tenant === tenant);
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

  /** Given all the runs it may have. */
  usedUp(r: Runner): boolean {
    return r.spent || (this.#opts.runsPerRunner !== undefined && r.runs >= this.#opts.runsPerRunner);
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
