/**
 * Runs a controller process (controller-runtime's manager): waits for leadership, starts the
 * informers, waits until their caches have synced, then runs the controllers; one failing part
 * stops them all. Serves `/healthz` and `/readyz`, and stops cleanly when its signal aborts.
 *
 * Losing leadership (renewal failed) rejects `start`: the process should exit and come back as a
 * fresh candidate, as controller-runtime does, rather than reuse queues and caches of a term it
 * no longer owns.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { startHealthServer, type HealthReport, type HealthServer } from './health-server.ts';
import type { LeaderElector } from './leader-election.ts';
import { aborted } from './signals.ts';

/** A long-running part: runs until `signal` aborts, then resolves; rejecting means it failed. */
export interface Runnable {
  start(signal: AbortSignal): Promise<void>;
}

/** A cache the manager starts and waits for (an {@link Informer} fits). */
export interface SyncedRunnable extends Runnable {
  waitForSync(signal: AbortSignal): Promise<boolean>;
  hasSynced(): boolean;
}

/** Options of a {@link Manager}. */
export interface ManagerOptions {
  informers?: readonly SyncedRunnable[];
  /** Controllers and other runnables that act only while leading, once the caches have synced. */
  controllers?: readonly Runnable[];
  /** Omitted: act at once, e.g. a single replica or a test. */
  leaderElector?: LeaderElector;
  /** Serves /healthz, /readyz (and /metrics when `registry` is set) on this port; 0 = any. */
  healthPort?: number;
  healthHost?: string;
  registry?: Registry;
  /** Fail the term if the caches have not synced by then, in ms (default 120 000). */
  syncTimeoutMs?: number;
  log?: Pick<Logger, 'info' | 'error'>;
}

/** Where the manager is; readiness and liveness derive from it. */
export type ManagerState = 'new' | 'standby' | 'syncing' | 'running' | 'stopped' | 'failed';

/** Thrown by `start` when this process stopped leading because renewal failed. */
export class LeadershipLostError extends Error {
  override readonly name = 'LeadershipLostError';
}

export class Manager {
  readonly #opts: ManagerOptions;
  #state: ManagerState = 'new';
  #health: HealthServer | undefined;

  constructor(opts: ManagerOptions) {
    this.#opts = opts;
  }

  state(): ManagerState {
    return this.#state;
  }

  /** The health server's port, once `start` has it listening. */
  healthPort(): number | undefined {
    return this.#health?.port;
  }

  /** Liveness: false only once the manager failed (a restart is the fix). */
  healthz(): HealthReport {
    const ok = this.#state !== 'failed';
    return { ok, checks: { manager: ok } };
  }

  /**
   * Readiness: a standby candidate is ready (so a rolling update, which waits for new pods to be
   * ready while the old leader still holds the Lease, can proceed); a leader is ready once its
   * caches have synced.
   */
  readyz(): HealthReport {
    const checks: Record<string, boolean> = {
      manager: this.#state === 'standby' || this.#state === 'running',
    };
    if (this.#state !== 'standby') {
      (this.#opts.informers ?? []).forEach((inf, i) => (checks[`informer-${i}`] = inf.hasSynced()));
    }
    return { ok: Object.values(checks).every(Boolean), checks };
  }

  /** Runs until `signal` aborts (resolves) or a part fails or leadership is lost (rejects). */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#state !== 'new') throw new Error('a manager starts once');
    const { healthPort, leaderElector } = this.#opts;
    if (healthPort !== undefined) {
      this.#health = await startHealthServer({
        port: healthPort,
        host: this.#opts.healthHost,
        healthz: () => this.healthz(),
        readyz: () => this.readyz(),
        registry: this.#opts.registry,
      });
    }
    try {
      if (leaderElector) {
        this.#state = 'standby';
        const end = await leaderElector.run(signal, { onStartedLeading: (lead) => this.#lead(lead) });
        if (end === 'lost') throw new LeadershipLostError(`lost the lease as ${leaderElector.identity}`);
      } else {
        await this.#lead(signal);
      }
      this.#state = 'stopped';
    } catch (err) {
      this.#state = 'failed';
      this.#opts.log?.error({ err }, 'manager failed');
      throw err;
    } finally {
      await this.#health?.close();
    }
  }

  /** One term: informers, sync, controllers; returns once all have stopped. */
  async #lead(signal: AbortSignal): Promise<void> {
    const term = new AbortController();
    const stop = () => term.abort();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    let failure: { err: unknown } | undefined;
    const running: Promise<void>[] = [];
    const track = (part: Runnable) =>
      running.push(
        part.start(term.signal).catch((err: unknown) => {
          failure ??= { err };
          term.abort();
        }),
      );

    const informers = this.#opts.informers ?? [];
    this.#state = 'syncing';
    informers.forEach(track);
    const syncSignal = AbortSignal.any([
      term.signal,
      AbortSignal.timeout(Math.ceil(this.#opts.syncTimeoutMs ?? 120_000)),
    ]);
    const synced = await Promise.all(informers.map((inf) => inf.waitForSync(syncSignal)));
    if (!term.signal.aborted) {
      if (synced.every(Boolean)) {
        this.#state = 'running';
        this.#opts.log?.info({ informers: informers.length }, 'caches synced; starting controllers');
        (this.#opts.controllers ?? []).forEach(track);
      } else {
        failure ??= { err: new Error('informer caches did not sync in time') };
        term.abort();
      }
    }
    await aborted(term.signal);
    await Promise.all(running);
    signal.removeEventListener('abort', stop);
    if (failure) throw failure.err;
  }
}
