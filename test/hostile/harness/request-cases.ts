/**
 * Hostile HTTP requests as data: one entry per case (method, path, body, headers, which client)
 * and the answers it may get. A refusal must be a 4xx with a JSON error carrying a stable
 * `MCPV8_ERR_*` code (never a 500 or MCPV8_ERR_SERVER_INTERNAL); after every case the server is
 * healthy and the victim still succeeds.
 */
import { expect } from 'vitest';
import { checkServerAndVictim, watchCase } from './case-watch.ts';
import type { HostileServer, HttpAnswer } from './hostile-server.ts';
import type { Victim } from './victim.ts';

/** Values a path may refer to, created before the cases run. */
export interface Fixtures {
  /** A completed execution that printed one 65,000-byte line. */
  longLine: string;
  /** The heap that execution committed. */
  heap: string;
}

export interface RequestCase {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** The path; `{line}` and `{heap}` are replaced from the fixtures. */
  path: string;
  /** An object is sent as JSON; a string or Buffer as is (set the content type in `headers`). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Which bearer token: the hostile client's (default), none, or a wrong one. */
  auth?: 'hostile' | 'none' | 'wrong';
  /** Accepted HTTP statuses. */
  status: number[];
  /** Accepted error codes (a refusal must carry one of them). */
  codes?: string[];
  /** More checks on a successful answer. */
  check?: (res: HttpAnswer) => void;
}

const ERROR_CODE = /^MCPV8_ERR_[A-Z_]+$/;

/** Sends one request case and checks the answer, the server and the victim. */
export async function runRequestCase(
  server: HostileServer,
  victim: Victim,
  fixtures: Fixtures,
  c: RequestCase,
): Promise<void> {
  const watch = watchCase(server);
  const path = c.path.replaceAll('{line}', fixtures.longLine).replaceAll('{heap}', fixtures.heap);
  const token = c.auth === 'none' ? null : c.auth === 'wrong' ? 'x'.repeat(32) : server.tokens.hostile;
  const res = await server.request(c.method, path, {
    token,
    ...(c.body !== undefined && { body: c.body }),
    ...(c.headers && { headers: c.headers }),
    timeoutMs: 60_000,
  });
  const what = `${c.name}: ${c.method} ${path.slice(0, 120)} answered ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeLessThan(500);
  expect(c.status, what).toContain(res.status);
  if (res.status >= 400) {
    const error = (res.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    expect(
      typeof error?.code === 'string' && ERROR_CODE.test(error.code),
      `${what} — no stable error code`,
    ).toBe(true);
    expect(typeof error?.message, `${what} — no message`).toBe('string');
    expect(error?.code, what).not.toBe('MCPV8_ERR_SERVER_INTERNAL');
    if (c.codes) expect(c.codes, what).toContain(error?.code);
  } else {
    c.check?.(res);
  }
  await checkServerAndVictim(server, victim, watch, c.name);
}
