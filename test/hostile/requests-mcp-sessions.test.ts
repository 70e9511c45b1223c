// Hostile MCP clients: 1000 sessions left open (a new client must still get in; the abuser gets
// only answers or a clear 4xx JSON-RPC error, never a dead server), sessions held busy past the
// per-client bound (the abuser is refused with a 4xx), and a client that opens GET /mcp after
// logging/setLevel and never reads it while chatty executions run (the gateway's RSS stays
// bounded). See harness/hostile-server.ts.
import { describe, expect, it } from 'vitest';
import { checkServerAndVictim, watchCase } from './harness/case-watch.ts';
import {
  openUnreadStream,
  rawCall,
  rawDelete,
  rawInitialize,
  sdkClient,
  type RawAnswer,
} from './harness/mcp-clients.ts';
import type { HostileServer } from './harness/hostile-server.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();

/** initialize `n` times as `token`, `parallel` at a time; every answer's status and session. */
async function initializeMany(
  s: HostileServer,
  token: string,
  n: number,
  parallel = 20,
): Promise<RawAnswer[]> {
  const out: RawAnswer[] = [];
  for (let i = 0; i < n; i += parallel) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(parallel, n - i) }, () => rawInitialize(s, token)),
      )),
    );
  }
  return out;
}

/** Every refusal among `answers` is a 4xx carrying a JSON-RPC error; nothing else but 200. */
function expectOkOrClearRefusal(answers: RawAnswer[], what: string): void {
  for (const a of answers) {
    const detail = `${what}: ${a.status} ${a.text.slice(0, 200)}`;
    if (a.status === 200) {
      expect(a.sessionId, detail).toBeTruthy();
      continue;
    }
    expect(a.status >= 400 && a.status < 500, detail).toBe(true);
    expect((a.messages[0] as { error?: unknown } | undefined)?.error, detail).toBeDefined();
  }
}

/** A new client (`token`) initializes, lists tools and runs a cell to completion. */
async function newClientWorks(s: HostileServer, token: string): Promise<void> {
  const fresh = await sdkClient(s, token, 'fresh');
  try {
    const started = await fresh.callTool({ name: 'run_js', arguments: { code: '21 * 2' } });
    expect(started.isError ?? false, JSON.stringify(started.content)).toBe(false);
    const id = (started.structuredContent as { execution_id: string }).execution_id;
    const done = await fresh.callTool({
      name: 'get_execution',
      arguments: { execution_id: id, wait_seconds: 30 },
    });
    expect(
      (done.structuredContent as { status: string; result?: string }).result,
      JSON.stringify(done.content),
    ).toBe('42');
  } finally {
    await fresh.close();
  }
}

describe('hostile MCP sessions', () => {
  it(
    '1000 sessions left open do not lock out a new client; the abuser gets only 200s or clear 4xx errors',
    { timeout: 240_000 },
    async () => {
      const s = file.server;
      const watch = watchCase(s);
      const answers = await initializeMany(s, s.tokens.hostile, 1000);
      expectOkOrClearRefusal(answers, 'abuser initialize');
      await newClientWorks(s, s.tokens.fresh);
      await newClientWorks(s, s.tokens.victim);
      // Once it closes what it holds, the abuser may start again.
      const ids = answers.flatMap((a) => (a.sessionId ? [a.sessionId] : []));
      const deleted = await Promise.all(ids.map((id) => rawDelete(s, s.tokens.hostile, id)));
      expect(
        deleted.filter((st) => st >= 500),
        'DELETE /mcp answers',
      ).toEqual([]);
      const again = await rawInitialize(s, s.tokens.hostile);
      expect(again.status, again.text.slice(0, 200)).toBe(200);
      await rawDelete(s, s.tokens.hostile, again.sessionId!);
      await checkServerAndVictim(s, file.victim, watch, '1000 idle sessions');
    },
  );

  it(
    'sessions held busy past the per-client bound: the abuser is refused with a 4xx JSON-RPC error, others get in',
    { timeout: 240_000 },
    async () => {
      const s = file.server;
      const watch = watchCase(s);
      // One execution that stays running; each abuser session long-polls it, so none is idle.
      const sleeper = await s.request('POST', '/api/exec', {
        body: { code: 'await new Promise((r) => setTimeout(r, 100000))', execution_timeout_secs: 120 },
      });
      const sleeperId = (sleeper.json as { execution_id: string }).execution_id;
      const hold = new AbortController();
      const held: Promise<unknown>[] = [];
      const refusals: RawAnswer[] = [];
      try {
        for (let i = 0; i < 300 && refusals.length === 0; i++) {
          const a = await rawInitialize(s, s.tokens.hostile);
          if (a.status !== 200) {
            refusals.push(a);
            break;
          }
          held.push(
            rawCall(
              s,
              s.tokens.hostile,
              a.sessionId!,
              'tools/call',
              { name: 'get_execution', arguments: { execution_id: sleeperId, wait_seconds: 50 } },
              hold.signal,
            ).catch(() => undefined),
          );
          // Let the long poll reach the server before the next initialize.
          await new Promise((r) => setTimeout(r, 5));
        }
        expect(refusals.length, 'the abuser was never refused').toBe(1);
        expectOkOrClearRefusal(refusals, 'busy abuser initialize');
        await newClientWorks(s, s.tokens.fresh);
      } finally {
        hold.abort();
        await Promise.all(held);
        await s.request('POST', `/api/executions/${sleeperId}/cancel`);
      }
      await checkServerAndVictim(s, file.victim, watch, 'busy sessions');
    },
  );

  it(
    'a GET /mcp stream that is never read while chatty executions run keeps the gateway RSS bounded',
    { timeout: 300_000 },
    async () => {
      const s = file.server;
      const watch = watchCase(s);
      const token = s.tokens.hostile;
      const init = await rawInitialize(s, token);
      expect(init.status, init.text.slice(0, 200)).toBe(200);
      const sid = init.sessionId!;
      expect((await rawCall(s, token, sid, 'logging/setLevel', { level: 'debug' })).status).toBe(200);
      const stream = await openUnreadStream(s, token, sid);
      expect(stream.status).toBe(200);
      const rss = s.rss.window();
      try {
        const chatty = [
          'for (;;) console.log()',
          'for (let i = 0; ; i++) console.log("chatty line " + i + " " + "z".repeat(200))',
          'for (let i = 0; i < 1e6; i++) console.error({ i, pad: "p".repeat(50) }); 1',
        ];
        for (let round = 0; round < 2; round++) {
          for (const code of chatty) {
            const started = await rawCall(s, token, sid, 'tools/call', {
              name: 'run_js',
              arguments: { code },
            });
            const id = (started.result as { structuredContent?: { execution_id?: string } } | undefined)
              ?.structuredContent?.execution_id;
            expect(id, JSON.stringify(started).slice(0, 300)).toBeTruthy();
            await rawCall(s, token, sid, 'tools/call', {
              name: 'get_execution',
              arguments: { execution_id: id, wait_seconds: 30 },
            });
            expect(await s.healthy(), 'healthy while the stream is unread').toBe(true);
          }
        }
        await newClientWorks(s, s.tokens.fresh);
      } finally {
        stream.close();
        rss.end();
      }
      const mb = (b: number) => Math.round(b / 2 ** 20);
      expect(
        rss.max - rss.start,
        `gateway RSS ${mb(rss.start)} MiB → peak ${mb(rss.max)} MiB with an unread stream`,
      ).toBeLessThan(256 * 2 ** 20);
      await checkServerAndVictim(s, file.victim, watch, 'unread stream');
    },
  );
});

describe('the whole file', () => file.closingChecks());
