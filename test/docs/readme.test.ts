// The README's examples, run as written (with the port the test got instead of 3000): a user
// who copies them must get what the README promises.
import { exec } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded, type RunningServer } from '../../src/cli/embedded.ts';
import { TOOLS } from '../../src/gateway/mcp/mcp-server.ts';
import { freePort } from '../harness/free-port.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = (lang: string) =>
  [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
const run = promisify(exec);

let server: RunningServer;
let port: number;
const dir = mkdtempSync(join(tmpdir(), 'readme-test-'));

beforeAll(async () => {
  port = await freePort();
  const config = loadConfig(
    [
      ...['--http-port', String(port), '--data-dir', dir, '--log-level', 'silent'],
      ...['--directory-path', join(dir, 'heaps'), '--session-db-path', join(dir, 'sessions')],
    ],
    {},
  );
  server = await startEmbedded(config as Config, pino({ level: 'silent' }));
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('keeps the run command and the test command at the top', () => {
    const first = blocks('sh')[0]!;
    expect(first).toContain('npm start');
    expect(first).toContain('npm test');
  });

  it('runs every curl example against a live server', async () => {
    const curls = blocks('sh')
      .flatMap((b) => b.split('\n'))
      .filter((l) => l.startsWith('curl '));
    expect(curls.length).toBeGreaterThan(0);
    for (const line of curls) {
      const { stdout } = await run(line.replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`));
      expect(JSON.parse(stdout)).toMatchObject({ status: 'completed', result: '2' });
    }
  });

  it('shows the help that `npm start -- --help` prints', async () => {
    const { stdout } = await run('npm start --silent -- --help', { cwd: root });
    expect(stdout).toContain('Usage: mcp-v8');
    for (const flag of [
      '--http-port',
      '--sse-port',
      '--heap-memory-max',
      '--execution-timeout',
      '--stateless',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it('runs the built server with npx', async () => {
    const { stdout } = await run('npx --no-install mcp-v8 --help', { cwd: root });
    expect(stdout).toContain('Usage: mcp-v8');
  });

  it('documents every MCP tool and every argument, and no other', () => {
    const rows = [...readme.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(.*?)\s*\|/gm)].filter((m) =>
      TOOLS.some((t) => t.name === m[1]),
    );
    expect(rows.map((m) => m[1])).toEqual(TOOLS.map((t) => t.name));
    for (const tool of TOOLS) {
      const cell = rows.find((m) => m[1] === tool.name)![2]!;
      for (const arg of Object.keys(tool.inputSchema))
        expect(cell, `${tool.name} ${arg}`).toContain(`\`${arg}\``);
    }
  });

  it('gives MCP client configurations that point at the real entry point', () => {
    const [config] = blocks('json');
    const parsed = JSON.parse(config!) as { mcpServers: Record<string, { command: string; args: string[] }> };
    const entry = parsed.mcpServers['mcp-v8']!;
    expect(entry.command).toBe('node');
    const path = entry.args[0]!.replace('/path/to/mcp-v8-operator/', root);
    expect(existsSync(path)).toBe(true);
    expect(readme).toContain('claude mcp add mcp-v8 -- node /path/to/mcp-v8-operator/src/cli/main.ts');
  });
});
