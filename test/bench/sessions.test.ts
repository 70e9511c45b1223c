// Stateful chained sessions under the open-loop scheduler: each session's cell n+1 resumes the
// heap its cell n committed, arrivals go to idle sessions, and with every session busy an
// arrival is dropped rather than waited for.
import { describe, expect, it } from 'vitest';
import { droppedOf, runOpenLoop } from '../../bench/load/arrival.ts';
import { SESSION_NEXT, SessionPool, sessionStart } from '../../bench/load/scenarios.ts';
import type { Cell, CellResult, Target } from '../../bench/load/targets.ts';

/** A fake stateful server: a heap id names the session and how many cells it holds. */
class FakeStatefulTarget implements Target {
  readonly name = 'http';
  requests = 0;
  readonly cells: Cell[] = [];
  readonly delayMs: number;
  constructor(delayMs: number) {
    this.delayMs = delayMs;
  }

  async run(cell: Cell): Promise<CellResult> {
    this.requests++;
    this.cells.push(cell);
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const depth = cell.heap === undefined ? 0 : Number(cell.heap.split(':')[1]) + 1;
    return { ok: true, heap: `${cell.session}:${depth}` };
  }

  async close(): Promise<void> {}
}

describe('stateful session pool', () => {
  it('chains each session on the heap its previous cell committed', async () => {
    const target = new FakeStatefulTarget(30);
    const pool = new SessionPool(target, 1000, 'chain');
    const r = await runOpenLoop(
      { rate: 100, durationMs: 600, maxInFlight: 10_000, graceMs: 2000 },
      pool.launch,
    );
    expect(r.ok).toBe(60);
    expect(droppedOf(r)).toBe(0);
    // Sessions are reused once idle: far fewer than 60 were needed at 30 ms per cell.
    expect(pool.sessionsStarted).toBeLessThanOrEqual(pool.peakBusy);
    expect(pool.sessionsStarted).toBeLessThan(15);
    const bySession = Map.groupBy(target.cells, (c) => c.session!);
    // Distinct first cells, so the sessions' content-addressed heaps never coincide.
    expect(new Set([...bySession.values()].map((cells) => cells[0]!.code)).size).toBe(bySession.size);
    for (const [session, cells] of bySession) {
      expect(cells[0]).toEqual({ code: sessionStart(session), heap: undefined, session });
      cells
        .slice(1)
        .forEach((cell, n) => expect(cell).toEqual({ code: SESSION_NEXT, heap: `${session}:${n}`, session }));
    }
  });

  it('drops an arrival when every session is busy, without slowing the schedule', async () => {
    const target = new FakeStatefulTarget(1000);
    const pool = new SessionPool(target, 4, 'busy');
    const r = await runOpenLoop(
      { rate: 100, durationMs: 300, maxInFlight: 10_000, graceMs: 3000 },
      pool.launch,
    );
    expect(r.scheduled).toBe(30);
    expect(r.sent).toBe(4);
    expect(r.droppedNoVu).toBe(26);
    expect(pool.peakBusy).toBe(4);
    expect(r.lastSentMs).toBeLessThan(100);
  });

  it('keeps a session on its heap after a failed cell', async () => {
    const target = new FakeStatefulTarget(1);
    const run = target.run.bind(target);
    let calls = 0;
    target.run = async (cell) => (++calls === 2 ? { ok: false, error: 'failed' } : run(cell));
    const pool = new SessionPool(target, 1, 'retry');
    const signal = new AbortController().signal;
    for (let i = 0; i < 3; i++) await pool.launch(i, signal);
    expect(target.cells.map((c) => c.heap)).toEqual([undefined, 'retry-1:0']);
    // The third call ran on the heap of the first: the failed second committed nothing.
    expect(calls).toBe(3);
  });
});
