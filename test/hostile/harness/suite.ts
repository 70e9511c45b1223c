/**
 * What each hostile test file shares: its own server and victim (started in beforeAll, stopped in
 * afterAll), a bound on how many cases run at once, the per-case test registration, and the
 * closing test that checks the whole file's effect on the gateway.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCellCase, type CellCase } from './cell-cases.ts';
import {
  GATEWAY_RSS_CAP_BYTES,
  GATEWAY_RSS_GROWTH_BYTES,
  HostileServer,
  type HostileServerOptions,
} from './hostile-server.ts';
import { Victim } from './victim.ts';

export interface HostileFile {
  readonly server: HostileServer;
  readonly victim: Victim;
  /** Runs `fn` when fewer than the file's bound of cases are running. */
  limit<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Registers one `it` per cell case (call inside a describe, `.concurrent` or not).
   * `runnerServesOn`: each case must leave the runner processes in place (no restart); only
   * meaningful for cases that run one at a time. `rewrite`: applied to each cell's code when
   * it runs (e.g. to put in a port known only then).
   */
  cellCases(
    cases: readonly CellCase[],
    opts?: { runnerServesOn?: boolean; rewrite?: (code: string) => string },
  ): void;
  /** Registers the closing test: healthy, victim never failed, RSS bounded. */
  closingChecks(opts?: { runnerRestartsMax?: number }): void;
}

/** Time a case may take in the test runner: waiting for a slot, its run, the victim's progress. */
export function caseTestTimeout(c: CellCase, serverTimeoutSecs = 2): number {
  return ((c.limits?.timeoutSecs ?? serverTimeoutSecs) + 150) * 1000;
}

/** Starts a hostile server and victim for this file. `parallel`: cases running at once. */
export function useHostileServer(
  opts: Omit<HostileServerOptions, 'args'> & { parallel?: number; args?: () => string[] } = {},
): HostileFile {
  let server: HostileServer | undefined;
  let victim: Victim | undefined;
  const parallel = opts.parallel ?? 3;
  let running = 0;
  const queue: Array<() => void> = [];

  beforeAll(async () => {
    server = await HostileServer.start({ ...opts, args: opts.args?.() ?? [] });
    victim = new Victim(server);
    victim.start();
    await victim.progressed();
    server.rss.rebase();
  }, 120_000);

  afterAll(async () => {
    await victim?.stop();
    await server?.stop();
  }, 60_000);

  const file: HostileFile = {
    get server() {
      if (!server) throw new Error('the hostile server did not start');
      return server;
    },
    get victim() {
      if (!victim) throw new Error('the hostile server did not start');
      return victim;
    },
    async limit<T>(fn: () => Promise<T>): Promise<T> {
      while (running >= parallel) await new Promise<void>((r) => queue.push(r));
      running++;
      try {
        return await fn();
      } finally {
        running--;
        queue.shift()?.();
      }
    },
    cellCases(cases, caseOpts = {}) {
      for (const c of cases) {
        it(`[${c.class}] ${c.name}`, { timeout: caseTestTimeout(c) }, () =>
          file.limit(async () => {
            const before = caseOpts.runnerServesOn ? await file.server.runnerRestarts() : 0;
            const code = caseOpts.rewrite ? caseOpts.rewrite(c.code) : c.code;
            await runCellCase(file.server, file.victim, { ...c, code });
            if (caseOpts.runnerServesOn) {
              expect(await file.server.runnerRestarts(), `${c.name}: a runner process was replaced`).toBe(
                before,
              );
            }
          }),
        );
      }
    },
    closingChecks(closing = {}) {
      it(
        'the gateway stayed healthy, the victim never failed, and RSS stayed bounded',
        { timeout: 120_000 },
        async () => {
          const s = file.server;
          s.rss.sample();
          const mb = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
          const rss = `baseline ${mb(s.rss.baseline)}, max ${mb(s.rss.max)}, now ${mb(s.rss.last)}`;
          const restarts = s.running ? await s.runnerRestarts() : NaN;
          // For the record: runners replaced (a supervisor kill drops the live heaps they held).
          console.info(`hostile file: gateway RSS ${rss}; runner restarts ${restarts}`);
          expect(await s.healthy(), s.logTail()).toBe(true);
          await file.victim.progressed();
          expect(file.victim.failures, 'victim failures over the whole file').toEqual([]);
          expect(s.rss.max, `gateway RSS ${rss}`).toBeLessThan(GATEWAY_RSS_CAP_BYTES);
          expect(s.rss.last - s.rss.baseline, `gateway RSS growth: ${rss}`).toBeLessThan(
            GATEWAY_RSS_GROWTH_BYTES,
          );
          if (closing.runnerRestartsMax !== undefined) {
            expect(restarts, 'runner processes replaced during the file').toBeLessThanOrEqual(
              closing.runnerRestartsMax,
            );
          }
        },
      );
    },
  };
  return file;
}
