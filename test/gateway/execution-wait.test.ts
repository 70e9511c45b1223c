// ExecutionService.wait and the MCP tasks/result built on it: woken by the execution's end in
// this process rather than by a poll step, still finding an end made elsewhere through a safety
// re-read, returning the unfinished record at the deadline or on abort, and leaving no listener
// behind. Timers are fake: "returns without waiting for a re-read" means "with the clock stopped".
import { ErrorCode, McpError, RELATED_TASK_META_KEY } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExecutionEvents } from '../../src/controller/execution-events.ts';
import { ExecutionScheduler } from '../../src/controller/execution-scheduler.ts';
import type { ExecutionOutcome, ExecutionRecord, RunnerPool } from '../../src/core/index.ts';
import type { ExecutionQueue } from '../../src/gateway/execution-queue.ts';
import { ExecutionService } from '../../src/gateway/execution-service.ts';
import { ExecutionTaskStore } from '../../src/gateway/mcp/execution-task-store.ts';
import { MEMORY_DATABASE, openDatabase, type SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { SqliteExecutionStore } from '../../src/local/sqlite-execution-store.ts';
import { SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';

const NS = 'default';
const LIMITS = { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 };
/** Far beyond any test: a wait that returns did not get there through a timed re-read. */
const LONG_MS = 60_000;

const completed = (result: string): ExecutionOutcome => ({
  status: 'completed',
  result,
  effectiveHeapMb: 8,
  durationMs: 1,
  outputBytes: 0,
  outputTruncated: false,
});

/** Runs finish when the test says so. */
class ManualRunners implements RunnerPool {
  readonly #pending = new Map<string, (outcome: ExecutionOutcome) => void>();
  run(req: { executionId: string }): Promise<ExecutionOutcome> {
    return new Promise((resolve) => this.#pending.set(req.executionId, resolve));
  }
  finish(id: string, outcome: ExecutionOutcome): void {
    this.#pending.get(id)?.(outcome);
  }
  get running(): number {
    return this.#pending.size;
  }
  stats() {
    return { runners: 1, ready: 1, busy: 0, waiting: 0, restarts: 0 };
  }
  async close(): Promise<void> {}
}

/** A queue that runs nothing: what this node accepted is ended by "another node" in the tests. */
const idleQueue: ExecutionQueue = {
  assertCapacity() {},
  submit() {},
  cancel: () => Promise.reject(new Error('not used')),
};

const PENDING: unique symbol = Symbol('pending');
/** The promise's value if it settles while the (fake) clock stands still, else PENDING. */
async function settledNow<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  const later = (async (): Promise<typeof PENDING> => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    return PENDING;
  })();
  return Promise.race([promise, later]);
}

let db: SqliteDatabase;
let store: SqliteExecutionStore;
let output: SqliteOutputLog;
let events: ExecutionEvents;

beforeEach(() => {
  // setImmediate stays real: settledNow lets I/O-free work finish without moving the clock.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  db = openDatabase(MEMORY_DATABASE);
  store = new SqliteExecutionStore(db);
  output = new SqliteOutputLog(db);
  events = new ExecutionEvents();
});
afterEach(() => {
  db.close();
  vi.useRealTimers();
});

/** The real scheduler on the test's store, with live events and runs the test ends by hand. */
function liveScheduler(maxConcurrent: number, maxQueued: number) {
  const runners = new ManualRunners();
  const scheduler = new ExecutionScheduler({ store, output, runners, events, maxConcurrent, maxQueued });
  return { runners, scheduler };
}

function service(scheduler: ExecutionQueue, opts: { events?: ExecutionEvents; maxPollMs?: number } = {}) {
  return new ExecutionService({
    store,
    output,
    scheduler,
    limits: LIMITS,
    maxCodeChars: 10_000,
    maxPollMs: LONG_MS,
    recheckMs: LONG_MS,
    ...opts,
  });
}

/** Ends a record the way another node sharing the store would: no event reaches this process. */
async function endElsewhere(record: ExecutionRecord): Promise<void> {
  const ended = await store.transition(NS, record.id, ['queued', 'running'], {
    status: 'completed',
    completedAt: new Date().toISOString(),
    outcome: completed('"elsewhere"'),
  });
  expect(ended?.status).toBe('completed');
}

describe('ExecutionService.wait with live events', () => {
  it('returns the completed record as soon as the scheduler ends it, without a re-read', async () => {
    const { runners, scheduler } = liveScheduler(1, 10);
    const svc = service(scheduler, { events });
    const record = await svc.submit(NS, { code: '1 + 1' });
    const waiting = svc.wait(NS, record.id, 2 * LONG_MS);
    expect(await settledNow(waiting)).toBe(PENDING);
    expect(runners.running).toBe(1);

    runners.finish(record.id, completed('2'));
    const done = await settledNow(waiting);
    expect(done).toMatchObject({ id: record.id, status: 'completed', outcome: { result: '2' } });
    expect(events.listenerCount).toBe(0);
  });

  it('sees an end made by another node at the next safety re-read', async () => {
    const svc = service(idleQueue, { events });
    const record = await svc.submit(NS, { code: '1' });
    const waiting = svc.wait(NS, record.id, 10 * LONG_MS);
    expect(await settledNow(waiting)).toBe(PENDING);

    await endElsewhere(record);
    expect(await settledNow(waiting)).toBe(PENDING); // no event here: nothing wakes it yet
    await vi.advanceTimersByTimeAsync(LONG_MS);
    expect(await settledNow(waiting)).toMatchObject({
      status: 'completed',
      outcome: { result: '"elsewhere"' },
    });
    expect(events.listenerCount).toBe(0);
  });

  it('returns the unfinished record at its deadline, and at once when aborted', async () => {
    const svc = service(idleQueue, { events });
    const record = await svc.submit(NS, { code: '1' });

    const timedOut = svc.wait(NS, record.id, 5_000);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(await settledNow(timedOut)).toBe(PENDING);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settledNow(timedOut)).toMatchObject({ id: record.id, status: 'queued' });

    const abort = new AbortController();
    const aborted = svc.wait(NS, record.id, LONG_MS, abort.signal);
    expect(await settledNow(aborted)).toBe(PENDING);
    abort.abort();
    expect(await settledNow(aborted)).toMatchObject({ id: record.id, status: 'queued' });
    expect(events.listenerCount).toBe(0);
  });

  it('leaves no listener and no warning behind after thousands of concurrent waits', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const { runners, scheduler } = liveScheduler(500, 0);
      const svc = service(scheduler, { events });
      const records = await Promise.all(Array.from({ length: 500 }, () => svc.submit(NS, { code: '1' })));
      // Several waits per execution, and some that time out before their execution ends.
      const waits = records.flatMap((r, i) => [
        svc.wait(NS, r.id, LONG_MS),
        svc.wait(NS, r.id, LONG_MS),
        svc.wait(NS, r.id, LONG_MS),
        svc.wait(NS, r.id, i % 2 === 0 ? 1_000 : LONG_MS),
      ]);
      expect(await settledNow(Promise.all(waits))).toBe(PENDING);
      expect(events.listenerCount).toBe(2000);

      await vi.advanceTimersByTimeAsync(1_000);
      expect(events.listenerCount).toBe(1750);
      for (const r of records) runners.finish(r.id, completed('1'));
      const ended = await settledNow(Promise.all(waits));
      expect(ended).not.toBe(PENDING);
      const statuses = (ended as ExecutionRecord[]).map((r) => r.status);
      expect(statuses.filter((s) => s === 'completed')).toHaveLength(1750);
      expect(statuses.filter((s) => s === 'queued' || s === 'running')).toHaveLength(250);
      expect(events.listenerCount).toBe(0);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });
});

describe('ExecutionService.wait without live events (cluster mode)', () => {
  it('polls the store until the record is final', async () => {
    const svc = service(idleQueue, { maxPollMs: 100 });
    const record = await svc.submit(NS, { code: '1' });
    const waiting = svc.wait(NS, record.id, LONG_MS);
    await vi.advanceTimersByTimeAsync(50);
    await endElsewhere(record);
    expect(await settledNow(waiting)).toBe(PENDING);
    await vi.advanceTimersByTimeAsync(100);
    expect(await settledNow(waiting)).toMatchObject({ status: 'completed' });
  });
});

describe('MCP tasks/result', () => {
  it('answers with the execution once the scheduler ends it, without a re-read', async () => {
    const { runners, scheduler } = liveScheduler(1, 10);
    const svc = service(scheduler, { events });
    const tasks = new ExecutionTaskStore(svc, NS);
    const record = await svc.submit(NS, { code: '21 * 2' });
    const result = tasks.awaitTaskResult(record.id, new AbortController().signal);
    expect(await settledNow(result)).toBe(PENDING);

    runners.finish(record.id, completed('42'));
    expect(await settledNow(result)).toMatchObject({
      structuredContent: { execution_id: record.id, status: 'completed', result: '42' },
      _meta: { [RELATED_TASK_META_KEY]: { taskId: record.id } },
    });
    expect(events.listenerCount).toBe(0);
  });

  it('refuses an unknown task, and stops waiting when the request is cancelled', async () => {
    const svc = service(idleQueue, { events });
    const tasks = new ExecutionTaskStore(svc, NS);
    await expect(tasks.awaitTaskResult('nope', new AbortController().signal)).rejects.toMatchObject({
      code: ErrorCode.InvalidParams,
    });

    const record = await svc.submit(NS, { code: '1' });
    const abort = new AbortController();
    const result = tasks.awaitTaskResult(record.id, abort.signal);
    const outcome = result.catch((err: unknown) => err);
    expect(await settledNow(outcome)).toBe(PENDING);
    abort.abort();
    const err = await settledNow(outcome);
    expect(err).toBeInstanceOf(McpError);
    expect(err).toMatchObject({ code: ErrorCode.InvalidRequest });
    expect(events.listenerCount).toBe(0);
  });
});
