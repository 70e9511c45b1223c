// Runner pods over NATS: two real runner processes (src/runner/nats-entry.ts) against the
// harness NATS server, driven by a NatsRunnerPool — results and console output, a stateful
// session resumed on the runner holding its heap and replayed elsewhere when that runner is
// killed, runner loss detected by heartbeats, cancellation.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NatsRunnerPool } from '../../src/cluster/nats-runner-pool.ts';
import type { ExecutionOutcome, OutputLevel, RunRequest } from '../../src/core/index.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';

const nats = inject('services').nats!;
const run = randomBytes(4).toString('hex');
const PREFIX = `mcpv8t${run}`;
const ENTRY = fileURLToPath(new URL('../../src/runner/nats-entry.ts', import.meta.url));
// Short, yet long enough that a loaded CI machine stalling a runner for a moment is not a loss.
const HEARTBEAT_TIMEOUT_MS = 3000;
// A dot is not a subject token character: the runner id must be escaped, not split.
const IDS = [`runner.a-${run}`, `runner.b-${run}`];

const children = new Map<string, ChildProcess>();
let nc: NatsConnection;
let pool: NatsRunnerPool;
let dir = '';
let seq = 0;

function startRunner(id: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--no-node-snapshot', ENTRY, '--nats-url', nats.url, '--runner-id', id, '--subject-prefix', PREFIX],
    {
      env: {
        ...process.env,
        // Marks the process so a leftover would be caught by the CI check.
        MCPV8_TEST_SERVICE: `nats-runner-${id}`,
        MCPV8_RUNNER_OPTIONS: JSON.stringify({ heartbeatIntervalMs: 200, warmSandboxes: 1 }),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.set(id, child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nats-pool-heaps-'));
  nc = await connect({ servers: nats.url });
  // One runner configured, the other found through its announcements.
  pool = new NatsRunnerPool(nc, {
    subjectPrefix: PREFIX,
    runners: [IDS[0]!],
    discover: true,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    cancelGraceMs: 500,
    deadlineGraceMs: 1000,
    heaps: new DirHeapStore(dir),
  });
  for (const id of IDS) startRunner(id);
  await pool.whenReady(2, 30_000);
});
afterAll(async () => {
  await pool?.close();
  await Promise.all([...children.values()].map(stop));
  await nc?.drain();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Started {
  runner: string | undefined;
  done: Promise<{ outcome: ExecutionOutcome; lines: Array<{ level: OutputLevel; text: string }> }>;
}

function start(code: string, opts: Partial<RunRequest> & { signal?: AbortSignal } = {}): Started {
  const executionId = `n${++seq}`;
  const lines: Array<{ level: OutputLevel; text: string }> = [];
  const outcome = pool.run(
    { executionId, code, language: 'javascript', heapMb: 16, timeoutMs: 10_000, ...opts },
    (level, text) => lines.push({ level, text }),
    opts.signal ?? new AbortController().signal,
  );
  return { runner: pool.runnerOf(executionId), done: outcome.then((o) => ({ outcome: o, lines })) };
}

describe('NatsRunnerPool', () => {
  it('runs a cell: result and console output', async () => {
    const { outcome, lines } = await start('console.log("hello"); console.error("oops"); 6 * 7').done;
    expect(outcome).toMatchObject({ status: 'completed', result: '42', resultType: 'number' });
    expect(lines.map((l) => l.text.trim())).toEqual(['hello', 'oops']);
  });

  it('cancels a running execution', async () => {
    const abort = new AbortController();
    const s = start('console.log("go"); while (true) {}', { timeoutMs: 30_000, signal: abort.signal });
    await new Promise((r) => setTimeout(r, 300));
    const t = Date.now();
    abort.abort();
    const { outcome } = await s.done;
    expect(outcome.status).toBe('cancelled');
    expect(Date.now() - t).toBeLessThan(500);
    // The runner stopped the cell, so it takes work again.
    await pool.whenReady(2, 5000);
  });

  it('resumes a session on the runner holding its heap, and elsewhere once that runner is killed', async () => {
    const first = start('var n = 1; n', { persist: true });
    const a = (await first.done).outcome;
    expect(a.status, JSON.stringify(a.error)).toBe('completed');
    const second = start('++n', { persist: true, heap: a.heap! });
    expect(second.runner).toBe(first.runner);
    const b = (await second.done).outcome;
    expect(b, JSON.stringify(b.error)).toMatchObject({ status: 'completed', result: '2' });

    // In flight on the holder when it dies: lost after the heartbeat timeout.
    const inFlight = start('while (true) {}', { persist: true, heap: b.heap!, timeoutMs: 30_000 });
    expect(inFlight.runner).toBe(first.runner);
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    await stop(children.get(first.runner!)!);
    const lost = (await inFlight.done).outcome;
    expect(lost.status, JSON.stringify(lost.error)).toBe('failed');
    expect(lost.error?.reason).toBe('RunnerCrashed');
    expect(lost.error?.message).toMatch(/lost/);
    expect(Date.now() - killedAt).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 1000);

    const third = start('++n', { persist: true, heap: b.heap! });
    expect(third.runner).toBeDefined();
    expect(third.runner).not.toBe(first.runner);
    const c = (await third.done).outcome;
    expect(c, JSON.stringify(c.error)).toMatchObject({ status: 'completed', result: '3' });
  });

  it('drains on SIGTERM: finishes what it runs, then exits', async () => {
    await pool.whenReady(1, 10_000);
    const s = start('await new Promise((r) => setTimeout(r, 500)); "done"');
    const child = children.get(s.runner!)!;
    await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect((await s.done).outcome).toMatchObject({ status: 'completed', result: '"done"' });
    expect(await exited).toBe(0);
  });
});
