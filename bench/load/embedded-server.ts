/**
 * An embedded mcp-v8 server for one benchmark run, started as a child process exactly as a
 * user starts it (`node src/cli/main.ts --http-port …`) on a free port with its own temporary
 * data directory, and stopped (SIGTERM, then SIGKILL) afterwards. A separate process keeps the
 * server's CPU and memory apart from the load generator's, so the probe measures only it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/local/free-port.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000;

export interface EmbeddedServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startEmbeddedServer(opts: {
  stateful: boolean;
  extraArgs: readonly string[];
}): Promise<EmbeddedServer> {
  const dir = mkdtempSync(join(tmpdir(), 'load-bench-'));
  const port = await freePort();
  const storage = opts.stateful
    ? ['--directory-path', join(dir, 'heaps'), '--session-db-path', join(dir, 'sessions')]
    : ['--stateless'];
  const args = [MAIN, '--http-port', String(port), '--data-dir', join(dir, 'data'), ...storage];
  // The bench's own flags come last so they can override the defaults above.
  args.push(...opts.extraArgs);
  const env: NodeJS.ProcessEnv = { ...process.env, MCP_V8_LOG_LEVEL: process.env.MCP_V8_LOG_LEVEL ?? 'warn' };
  // Never let a bench server pass for a test service (the CI looks for that variable).
  delete env.MCPV8_TEST_SERVICE;
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    await waitReady(url, child);
  } catch (err) {
    await stopChild(child);
    cleanup();
    throw new Error(`embedded server did not start: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      await stopChild(child);
      cleanup();
    },
  };
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('not ready in time');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
