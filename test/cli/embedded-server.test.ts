// The embedded server as a user runs it: records and output survive a restart, an execution
// cut off by a stop is marked failed on the next start, foreign Host headers and missing bearer
// tokens are refused, and bad flags exit with code 2 and one clear line.
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded } from '../../src/cli/embedded.ts';
import { freePort } from '../harness/free-port.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'embedded-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(extra: string[] = []) {
  const port = await freePort();
  const config = loadConfig(
    [
      '--http-port',
      String(port),
      '--data-dir',
      dir,
      '--log-level',
      'silent',
      ...(extra.includes('--stateless')
        ? []
        : ['--directory-path', join(dir, 'heaps'), '--session-db-path', join(dir, 'sessions')]),
      ...extra,
    ],
    {},
  );
  const server = await startEmbedded(config as Config, pino({ level: 'silent' }));
  return { server, url: server.url! };
}

const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

describe('embedded server', () => {
  it('keeps executions and their output across a restart, and fails what a stop interrupted', async () => {
    let { server, url } = await start();
    const done = await json(
      await fetch(`${url}/api/exec?wait=10`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'console.log("kept"); 40 + 2' }),
      }),
    );
    const cut = await json(
      await fetch(`${url}/api/exec`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'await new Promise((r) => setTimeout(r, 60000))' }),
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    await server.close();

    ({ server, url } = await start());
    try {
      expect(await json(await fetch(`${url}/api/executions/${done.execution_id as string}`))).toMatchObject({
        status: 'completed',
        result: '42',
      });
      const out = await json(await fetch(`${url}/api/executions/${done.execution_id as string}/output`));
      expect(out.data).toBe('kept\n');
      const after = await json(await fetch(`${url}/api/executions/${cut.execution_id as string}`));
      expect(['failed', 'cancelled']).toContain(after.status);
    } finally {
      await server.close();
    }
  });

  it('exposes Prometheus metrics: outcomes, latency, queue depth and runners', async () => {
    const { server, url } = await start();
    try {
      await fetch(`${url}/api/exec?wait=10`, {
        method: 'POST',
        body: 'throw new Error("x")',
        headers: { 'content-type': 'text/plain' },
      });
      await fetch(`${url}/api/exec?wait=10`, {
        method: 'POST',
        body: '1',
        headers: { 'content-type': 'text/plain' },
      });
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/mcpv8_executions_finished_total\{status="completed",reason="None"\} 1/);
      expect(text).toMatch(/mcpv8_executions_finished_total\{status="failed",reason="Error"\} 1/);
      expect(text).toMatch(/mcpv8_execution_duration_seconds_count\{status="completed"\} 1/);
      expect(text).toMatch(/mcpv8_executions_queued 0/);
      expect(text).toMatch(/mcpv8_runners\{state="ready"\} [1-9]/);
    } finally {
      await server.close();
    }
  });

  it('refuses MCP requests whose Host header is not ours (DNS rebinding)', async () => {
    const { server, url } = await start();
    try {
      // fetch cannot set Host; a raw request can, as a rebinding attacker's browser effectively does.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${url}/mcp`, {
          method: 'POST',
          headers: {
            host: 'evil.example',
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }));
      });
      expect(status).toBe(403);
      const foreignOrigin = await fetch(`${url}/mcp`, {
        method: 'POST',
        headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(foreignOrigin.status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('requires the bearer token when one is configured, but not for health probes', async () => {
    const token = 'a-long-enough-secret-token';
    const { server, url } = await start(['--auth-token', token]);
    try {
      expect((await fetch(`${url}/api/executions`)).status).toBe(401);
      expect(
        (await fetch(`${url}/api/executions`, { headers: { authorization: 'Bearer wrong-token-xxxxxxxx' } }))
          .status,
      ).toBe(401);
      expect(
        (await fetch(`${url}/api/executions`, { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(200);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it.each([
    ['conflicting transports', ['--http-port', '3000', '--sse-port', '3001'], /cannot be used together/],
    [
      'a heap cap out of range',
      ['--heap-memory-max', '65'],
      /--heap-memory-max must be an integer from 1 to 64/,
    ],
    [
      'a timeout out of range',
      ['--execution-timeout', '0'],
      /--execution-timeout must be an integer from 1 to 300/,
    ],
    ['two storage options', ['--stateless', '--directory-path', '/tmp/x'], /only one storage option/],
    [
      'a session log without sessions',
      ['--stateless', '--session-db-path', '/tmp/x'],
      /--session-db-path cannot/,
    ],
    ['an unknown flag', ['--frobnicate'], /Unknown option '--frobnicate'/],
  ])('exits 2 with one line on %s', async (_name, args, message) => {
    const err = await promisify(execFile)(process.execPath, [MAIN, ...args]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 2 });
    const stderr = (err as { stderr: string }).stderr.trim();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });

  it('takes MCP_V8_* environment variables, flags winning', () => {
    const c = loadConfig(['--execution-timeout', '20'], {
      MCP_V8_HTTP_PORT: '4100',
      MCP_V8_EXECUTION_TIMEOUT: '99',
    }) as Config;
    expect(c).toMatchObject({ transport: 'http', port: 4100, executionTimeoutSecs: 20 });
  });
});
