/**
 * What every case checks around itself, hostile cell or hostile request: the server is healthy
 * afterwards, the victim succeeded meanwhile (and again since), and the gateway's RSS did not
 * jump while the case ran. The absolute RSS cap and the growth over a whole file are checked by
 * each file's closing test (suite.ts), so one culprit does not fail every later case.
 */
import { expect } from 'vitest';
import type { HostileServer } from './hostile-server.ts';
import type { Victim } from './victim.ts';

/** Most the gateway's RSS may rise while one case (and those running beside it) runs. */
export const CASE_RSS_JUMP_BYTES = 512 * 1024 ** 2;

export interface CaseWatch {
  readonly since: number;
  readonly rss: ReturnType<HostileServer['rss']['window']>;
}

/** Starts watching a case: call before it sends anything. */
export function watchCase(server: HostileServer): CaseWatch {
  return { since: Date.now(), rss: server.rss.window() };
}

/** The server is healthy, the victim succeeded since the case began, the RSS did not jump. */
export async function checkServerAndVictim(
  server: HostileServer,
  victim: Victim,
  watch: CaseWatch,
  label: string,
): Promise<void> {
  try {
    expect(await server.healthy(), `${label}: GET /healthz after the case\n${server.logTail(15)}`).toBe(true);
    await victim.progressed();
    expect(victim.failuresSince(watch.since), `${label}: the victim failed during the case`).toEqual([]);
    server.rss.sample();
    const mb = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
    expect(
      watch.rss.max - watch.rss.start,
      `${label}: gateway RSS rose from ${mb(watch.rss.start)} to ${mb(watch.rss.max)} during the case`,
    ).toBeLessThan(CASE_RSS_JUMP_BYTES);
  } finally {
    watch.rss.end();
  }
}
