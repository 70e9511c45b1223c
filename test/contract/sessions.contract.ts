// Persistent sessions as a user sees them through the embedded server, for any heap storage:
// state built over many cells survives resumes (live, after a restart, replayed), branches evolve
// apart, failed cells leave the session where it was, and bad or damaged heaps are clear errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded, type RunningServer } from '../../src/cli/embedded.ts';
import { freePort } from '../harness/free-port.ts';

export interface SessionStorage {
  /** Storage flags for a server whose scratch directory is `root`. */
  args(root: string): string[];
  /** Replaces the stored content of `heap` with something else (the server is stopped). */
  corrupt(heap: string, root: string): Promise<void>;
}

export function sessionsContract(name: string, storage: SessionStorage): void {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function start(): Promise<{ server: RunningServer; url: string }> {
    const port = await freePort();
    const config = loadConfig(
      [
        '--http-port',
        String(port),
        '--data-dir',
        join(dir, 'data'),
        ...storage.args(dir),
        '--session-db-path',
        join(dir, 'sessions'),
        '--max-concurrent-executions',
        '2',
        '--log-level',
        'silent',
      ],
      {},
    );
    const server = await startEmbedded(config as Config, pino({ level: 'silent' }));
    return { server, url: server.url! };
  }

  interface View {
    status: string;
    result?: string;
    heap?: string;
    error?: { reason: string; message: string };
    execution_id: string;
  }

  async function exec(
    url: string,
    body: Record<string, unknown>,
  ): Promise<{
    status: number;
    body: View & { error?: { code?: string; reason?: string; message: string } };
  }> {
    const res = await fetch(`${url}/api/exec?wait=30`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as View };
  }

  async function ok(url: string, code: string, heap?: string, extra: Record<string, unknown> = {}) {
    const { body } = await exec(url, { code, ...(heap && { heap }), ...extra });
    expect(body.status, JSON.stringify(body.error)).toBe('completed');
    expect(body.heap).toMatch(/^[0-9a-f]{64}$/);
    return body as View & { heap: string };
  }

  const SETUP = `
let counter = 0;
const bump = (() => { let hidden = 0; return () => ++hidden; })();
class Account { constructor() { this.entries = []; } add(v) { this.entries.push(v); return this; } }
const account = new Account();
const seen = new Map();`;
  const STEP = 'counter++; bump(); account.add(counter); seen.set(`k${counter}`, Math.random()); counter';
  const PROBE =
    '({ counter, hidden: bump() - 1, sum: account.entries.reduce((a, b) => a + b, 0), isAccount: account instanceof Account, size: seen.size, last: seen.get(`k${counter}`) })';

  describe(`persistent sessions (${name})`, () => {
    let first: { server: RunningServer; url: string };
    let head = '';
    let probe = '';

    it('keeps a counter, a closure, a class instance and a Map across 50 chained cells', async () => {
      first = await start();
      const { url } = first;
      head = (await ok(url, SETUP)).heap;
      for (let i = 1; i <= 50; i++) {
        const step = await ok(url, STEP, head);
        expect(step.result).toBe(String(i));
        head = step.heap;
      }
      const view = await ok(url, PROBE, head);
      probe = view.result!;
      expect(JSON.parse(probe)).toMatchObject({
        counter: 50,
        hidden: 50,
        sum: 1275,
        isAccount: true,
        size: 50,
      });
    });

    it('runs the seed example: var x = 1 gives a heap, and the next call on it sees x', async () => {
      const a = await ok(first.url, 'var x = 1; x;');
      expect(a.result).toBe('1');
      expect((await ok(first.url, 'x + 1', a.heap)).result).toBe('2');
      // Without the heap the next call starts fresh.
      expect((await exec(first.url, { code: 'typeof x' })).body.result).toBe('"undefined"');
    });

    it('evolves two branches from one heap independently', async () => {
      const base = await ok(first.url, 'var items = ["base"];');
      const left = await ok(first.url, 'items.push("left"); items.join()', base.heap);
      const right = await ok(first.url, 'items.push("right"); items.join()', base.heap);
      expect(left.result).toBe('"base,left"');
      expect(right.result).toBe('"base,right"');
      expect((await ok(first.url, 'items.join()', left.heap)).result).toBe('"base,left"');
      expect((await ok(first.url, 'items.join()', right.heap)).result).toBe('"base,right"');
    });

    it('leaves the session where it was after a failing, a timed-out and a cancelled cell', async () => {
      const base = await ok(first.url, 'var n = 10;');
      const threw = await exec(first.url, { code: 'n = 99; throw new Error("boom")', heap: base.heap });
      expect(threw.body).toMatchObject({ status: 'failed' });
      expect(threw.body.heap).toBeUndefined();
      const slow = await exec(first.url, {
        code: 'n = 77; await new Promise((r) => setTimeout(r, 5000))',
        heap: base.heap,
        execution_timeout_secs: 1,
      });
      expect(slow.body).toMatchObject({ status: 'timed_out' });
      expect(slow.body.heap).toBeUndefined();
      const started = await fetch(`${first.url}/api/exec`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          code: 'n = 55; await new Promise((r) => setTimeout(r, 5000))',
          heap: base.heap,
        }),
      });
      const { execution_id: id } = (await started.json()) as View;
      await new Promise((r) => setTimeout(r, 200));
      const cancelled = await fetch(`${first.url}/api/executions/${id}/cancel`, { method: 'POST' });
      expect(((await cancelled.json()) as View).status).toBe('cancelled');
      expect((await ok(first.url, 'n', base.heap)).result).toBe('10');
    });

    it('refuses an unknown or malformed heap instead of starting fresh', async () => {
      const unknown = await exec(first.url, { code: '1', heap: 'a'.repeat(64) });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toMatchObject({ code: 'MCPV8_ERR_HEAP_NOT_FOUND' });
      const malformed = await exec(first.url, { code: '1', heap: 'not-a-heap' });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error).toMatchObject({ code: 'MCPV8_ERR_HEAP_ID_INVALID' });
    });

    it("runs the seed README's session workflow over MCP as written", async () => {
      const client = new Client({ name: 'seed-walkthrough', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${first.url}/mcp`)));
      const call = async (name: string, args: Record<string, unknown>) => {
        const res = await client.callTool({ name, arguments: args });
        expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
        return res.structuredContent as Record<string, unknown>;
      };
      const finished = async (id: unknown) => {
        for (;;) {
          const view = await call('get_execution', { execution_id: id });
          if (!['queued', 'running'].includes(view.status as string)) return view;
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      try {
        const started = await call('run_js', { code: 'var x = 1; x;', session: 'my-project' });
        const one = await finished(started.execution_id);
        expect(one).toMatchObject({
          status: 'completed',
          result: '1',
        });
        expect(one.heap).toMatch(/^[0-9a-f]{64}$/);
        const next = await call('run_js', { code: 'x + 1', heap: one.heap, session: 'my-project' });
        const two = await finished(next.execution_id);
        expect(two).toMatchObject({ status: 'completed', result: '2' });

        expect(JSON.stringify(await call('list_sessions', {}))).toContain('"my-project"');
        const log = await call('list_session_snapshots', { session: 'my-project' });
        expect(JSON.stringify(log)).toContain(one.heap as string);
        const entries = (Object.values(log).find(Array.isArray) ?? []) as Array<Record<string, unknown>>;
        expect(entries).toEqual([
          {
            index: 0,
            input_heap: null,
            output_heap: one.heap,
            code: 'var x = 1; x;',
            timestamp: expect.any(String) as unknown,
          },
          {
            index: 1,
            input_heap: one.heap,
            output_heap: two.heap,
            code: 'x + 1',
            timestamp: expect.any(String) as unknown,
          },
        ]);
        const narrow = await call('list_session_snapshots', {
          session: 'my-project',
          fields: 'index,output_heap',
        });
        expect((Object.values(narrow).find(Array.isArray) as unknown[])[1]).toEqual({
          index: 1,
          output_heap: two.heap,
        });
      } finally {
        await client.close();
      }
    });

    it('sets the tags run_js was given on the heap it commits', async () => {
      const tagged = await ok(first.url, 'var model = "v2";', undefined, {
        tags: { project: 'demo', stage: 'fit' },
      });
      const res = await fetch(`${first.url}/api/heaps/${tagged.heap}/tags`);
      expect(JSON.stringify(await res.json())).toContain('"stage":"fit"');
      const failed = await exec(first.url, { code: 'throw 1', tags: { project: 'demo' }, heap: tagged.heap });
      expect(failed.body.status).toBe('failed');
      const query = await fetch(`${first.url}/api/heaps/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tags: { project: 'demo' } }),
      });
      const found = JSON.stringify(await query.json());
      expect(found).toContain(tagged.heap);
      expect(found.match(/[0-9a-f]{64}/g)).toHaveLength(1);
    });

    it('resumes the same state after a restart, in new runner processes, by replaying', async () => {
      await first.server.close();
      const second = await start();
      try {
        expect((await ok(second.url, PROBE, head)).result).toBe(probe);
        // And the session goes on from there.
        expect((await ok(second.url, STEP, head)).result).toBe('51');
      } finally {
        await second.server.close();
      }
    });

    it('detects a stored heap whose content was damaged', async () => {
      const server = await start();
      try {
        const damaged = await ok(server.url, 'var secret = 1;');
        await server.server.close();
        await storage.corrupt(damaged.heap, dir);
        const again = await start();
        try {
          const { body } = await exec(again.url, { code: 'secret', heap: damaged.heap });
          expect(body.status).toBe('failed');
          expect(body.error).toMatchObject({ reason: 'HeapError' });
          expect(body.error!.message).toMatch(/does not match its id/);
        } finally {
          await again.server.close();
        }
      } catch (err) {
        await server.server.close().catch(() => {});
        throw err;
      }
    });
  });
}
