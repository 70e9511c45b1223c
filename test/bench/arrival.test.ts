// The open-loop scheduler against a local fake of `POST /api/exec?wait=`: a slow server does not
// slow the sending schedule, latency (from the scheduled time) then includes the server's
// queueing, and what cannot be sent or finished in time is counted as dropped.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { droppedOf, runOpenLoop } from '../../bench/load/arrival.ts';
import { summarize } from '../../bench/load/stats.ts';
import { HttpTarget } from '../../bench/load/targets.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A fake server; `arrivals` holds when each request reached it (ms, performance.now()). */
async function fakeServer(handle: Handler) {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(performance.now());
    req.resume();
    req.on('end', () => handle(req, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, arrivals, target: new HttpTarget(url, 30) };
}

const completed = (res: ServerResponse) =>
  res
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ execution_id: 'x', status: 'completed', result: '2' }));

describe('open-loop arrival scheduler', () => {
  it('keeps sending on schedule while a slow server has not answered anything yet', async () => {
    const delayMs = 400;
    const firstAnswer: number[] = [];
    const { target, arrivals } = await fakeServer((_req, res) =>
      setTimeout(() => {
        firstAnswer.push(performance.now());
        completed(res);
      }, delayMs),
    );
    const start = performance.now();
    const r = await runOpenLoop(
      { rate: 100, durationMs: 1000, maxInFlight: 10_000, graceMs: 5000 },
      (_i, s) => target.run({ code: '1 + 1' }, s),
    );
    // All 100 sent within about the schedule's second — a closed loop of one would need 40 s.
    expect(r.sent).toBe(100);
    expect(r.lastSentMs).toBeLessThan(1200);
    expect(summarize(r.sendLagMs).p95).toBeLessThan(100);
    // Dozens of requests reached the server before it had answered even one.
    expect(arrivals.filter((t) => t < firstAnswer[0]!).length).toBeGreaterThanOrEqual(25);
    expect(r.peakInFlight).toBeGreaterThanOrEqual(25);
    expect(r.ok).toBe(100);
    expect(droppedOf(r)).toBe(0);
    expect(Math.min(...r.latenciesMs)).toBeGreaterThanOrEqual(delayMs - 5);
    expect(performance.now() - start).toBeLessThan(3000);
  });

  it('measures latency from the scheduled time, so a server queue shows in it', async () => {
    // One request at a time, 20 ms each: 50/s of capacity offered 100/s.
    const serviceMs = 20;
    const queue: ServerResponse[] = [];
    let busy = false;
    const serveNext = () => {
      const res = queue.shift();
      if (!res) return void (busy = false);
      busy = true;
      setTimeout(() => (completed(res), serveNext()), serviceMs);
    };
    const { target } = await fakeServer((_req, res) => {
      queue.push(res);
      if (!busy) serveNext();
    });
    const r = await runOpenLoop(
      { rate: 100, durationMs: 1000, maxInFlight: 10_000, graceMs: 10_000 },
      (_i, s) => target.run({ code: '1 + 1' }, s),
    );
    expect(r.lastSentMs).toBeLessThan(1200);
    expect(r.ok).toBe(100);
    const s = summarize(r.latenciesMs);
    // Each request took 20 ms to serve, but the last ones waited behind ~50 others: about 1 s.
    // A closed-loop client would have reported ~20 ms throughout.
    expect(s.p50).toBeGreaterThan(10 * serviceMs);
    expect(s.max).toBeGreaterThan(40 * serviceMs);
    // Sending was not held back: the backlog built up at the server, so completions ran ~2 s.
    expect(r.lastDoneMs).toBeGreaterThan(1700);
  });

  it('drops arrivals beyond the in-flight bound instead of delaying them', async () => {
    const { target } = await fakeServer((_req, res) => setTimeout(() => completed(res), 600));
    const r = await runOpenLoop({ rate: 100, durationMs: 500, maxInFlight: 5, graceMs: 5000 }, (_i, s) =>
      target.run({ code: '1 + 1' }, s),
    );
    expect(r.scheduled).toBe(50);
    expect(r.sent).toBe(5);
    expect(r.droppedAtLimit).toBe(45);
    expect(r.ok).toBe(5);
    expect(droppedOf(r)).toBe(45);
  });

  it('counts requests unfinished at the end of the grace period as dropped, and aborts them', async () => {
    let closedByClient = 0;
    const { target } = await fakeServer((req) => req.socket.on('close', () => closedByClient++));
    const start = performance.now();
    const r = await runOpenLoop({ rate: 50, durationMs: 200, maxInFlight: 10_000, graceMs: 300 }, (_i, s) =>
      target.run({ code: '1 + 1' }, s),
    );
    expect(performance.now() - start).toBeLessThan(1500);
    expect(r.sent).toBe(10);
    expect(r.completed).toBe(0);
    expect(r.droppedUnfinished).toBe(10);
    expect(droppedOf(r)).toBe(10);
    expect(r.latenciesMs).toEqual([]);
    await expect.poll(() => closedByClient, { timeout: 2000 }).toBe(10);
  });

  it('counts launches with no free virtual user as dropped, and failures apart from successes', async () => {
    const r = await runOpenLoop({ rate: 200, durationMs: 100, maxInFlight: 10_000, graceMs: 1000 }, (i) =>
      i % 4 === 0
        ? undefined
        : Promise.resolve(i % 2 === 0 ? { ok: true } : { ok: false, error: 'http 429' }),
    );
    expect(r.scheduled).toBe(20);
    expect(r.droppedNoVu).toBe(5);
    expect(r.ok).toBe(5);
    expect(r.failed).toBe(10);
    expect(r.errors).toEqual({ 'http 429': 10 });
    expect(r.latenciesMs).toHaveLength(5);
  });

  it('reports a non-200 answer and an unfinished execution as failures', async () => {
    let n = 0;
    const { target } = await fakeServer((_req, res) => {
      if (n++ % 2 === 0) return void res.writeHead(429).end('{}');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ execution_id: 'x', status: 'failed', error: { reason: 'timeout' } }));
    });
    const signal = new AbortController().signal;
    expect(await target.run({ code: '1' }, signal)).toEqual({ ok: false, error: 'http 429' });
    expect(await target.run({ code: '1' }, signal)).toEqual({ ok: false, error: 'failed: timeout' });
    expect(target.requests).toBe(2);
  });
});
