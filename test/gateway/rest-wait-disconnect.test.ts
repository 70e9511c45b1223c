// POST /api/exec?wait= over a real socket: a caller that hangs up stops the server's wait for
// that execution (no listener is left waiting out the full `wait`), while the execution runs on.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExecutionEvents } from '../../src/controller/execution-events.ts';
import { ExecutionScheduler } from '../../src/controller/execution-scheduler.ts';
import type { ExecutionOutcome, RunnerPool } from '../../src/core/index.ts';
import { ExecutionService } from '../../src/gateway/execution-service.ts';
import { buildHttpApp } from '../../src/gateway/http-app.ts';
import { MEMORY_DATABASE, openDatabase, type SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { SqliteExecutionStore } from '../../src/local/sqlite-execution-store.ts';
import { SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';

/** Runs that end only when the test ends them. */
class ManualRunners implements RunnerPool {
  readonly pending = new Map<string, (outcome: ExecutionOutcome) => void>();
  run(req: { executionId: string }): Promise<ExecutionOutcome> {
    return new Promise((resolve) => this.pending.set(req.executionId, resolve));
  }
  stats() {
    return { runners: 1, ready: 1, busy: this.pending.size, waiting: 0, restarts: 0 };
  }
  async close(): Promise<void> {}
}

let db: SqliteDatabase;
let app: FastifyInstance;
let url: string;
const runners = new ManualRunners();
const events = new ExecutionEvents();
let scheduler: ExecutionScheduler;

beforeAll(async () => {
  db = openDatabase(MEMORY_DATABASE);
  const store = new SqliteExecutionStore(db);
  const output = new SqliteOutputLog(db);
  scheduler = new ExecutionScheduler({ store, output, runners, events, maxConcurrent: 4, maxQueued: 4 });
  const service = new ExecutionService({
    store,
    output,
    scheduler,
    events,
    limits: { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 },
    maxCodeChars: 100_000,
  });
  app = buildHttpApp({ service, bodyLimit: 200_000 });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  for (const resolve of runners.pending.values())
    resolve({
      status: 'completed',
      effectiveHeapMb: 8,
      durationMs: 1,
      outputBytes: 0,
      outputTruncated: false,
    });
  await scheduler?.stop();
  await app?.close();
  db?.close();
});

it('stops waiting for an execution when the caller disconnects', async () => {
  const caller = new AbortController();
  const request = fetch(`${url}/api/exec?wait=300`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: '1' }),
    signal: caller.signal,
  });
  while (events.listenerCount === 0) await new Promise((r) => setTimeout(r, 5));
  caller.abort();
  await expect(request).rejects.toThrow();
  // The server notices the closed socket; its wait (300 s) ends with it.
  for (let i = 0; i < 200 && events.listenerCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(events.listenerCount).toBe(0);
  expect(runners.pending.size).toBe(1);
});
