// The integration harness promises "no stray processes": these tests hold it to that with real
// child processes (no mocks), since a leaked server would outlive CI.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';
import { ServiceProcess, isGroupAlive } from './service-process.ts';

let dir: string;
const started: ServiceProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'svc-test-'));
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop(500)));
  rmSync(dir, { recursive: true, force: true });
});

function start(script: string): ServiceProcess {
  const p = ServiceProcess.start({
    name: 't',
    command: 'bash',
    args: ['-c', script],
    logFile: join(dir, 't.log'),
  });
  started.push(p);
  return p;
}

function pidsOf(pgid: number): number[] {
  try {
    return execFileSync('pgrep', ['-g', String(pgid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return [];
  }
}

describe('ServiceProcess', () => {
  it('stops the whole process group, grandchildren included', async () => {
    const p = start('sleep 300 & sleep 300 & wait');
    await p.waitReady(async () => pidsOf(p.pid).length >= 3, 5000);
    // CI finds leftovers by this marker.
    expect(readFileSync(`/proc/${p.pid}/environ`, 'latin1')).toContain('MCPV8_TEST_SERVICE=t');
    await p.stop();
    expect(p.running).toBe(false);
    expect(isGroupAlive(p.pid)).toBe(false);
    expect(pidsOf(p.pid)).toEqual([]);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const p = start("trap '' TERM; echo armed; while true; do sleep 0.05; done");
    await p.waitReady(async () => p.logTail().includes('armed'), 5000);
    const t0 = Date.now();
    await p.stop(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(isGroupAlive(p.pid)).toBe(false);
  });

  it('fails fast with the log when the service exits during start-up', async () => {
    const p = start('echo "bad flag --frobnicate" >&2; exit 3');
    await expect(p.waitReady(async () => false, 10_000)).rejects.toThrow(
      /exited during start-up:\n.*bad flag --frobnicate/,
    );
  });

  it('gives up at the deadline and says why', async () => {
    const p = start('echo still warming up; sleep 300');
    const t0 = Date.now();
    await expect(p.waitReady(async () => false, 300)).rejects.toThrow(
      /not ready after 300 ms:\n.*still warming up/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('freePort', () => {
  it('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) =>
      server.once('error', reject).listen(port, '127.0.0.1', resolve),
    );
    await new Promise((r) => server.close(r));
  });
});
