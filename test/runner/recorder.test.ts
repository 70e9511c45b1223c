// The journal hook: what a cell observes of time, randomness, timers and host calls is recorded
// on a live run and answered from the journal on a replay, so the replay ends in the same state.
import { afterEach, describe, expect, it } from 'vitest';
import type { OutputLevel } from '../../src/core/index.ts';
import { executeCell } from '../../src/runner/execute-cell.ts';
import { LiveRecorder, ReplayRecorder, type Recorder } from '../../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../src/runner/runner-process.ts';
import { Sandbox } from '../../src/runner/sandbox/sandbox.ts';

const sandboxes: Sandbox[] = [];
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});

async function runIn(code: string, recorder: Recorder) {
  const { wasmModules: _none, ...defaults } = DEFAULT_RUNNER_OPTIONS;
  const sandbox = await Sandbox.create({ ...defaults, heapMb: 8 });
  sandboxes.push(sandbox);
  const lines: string[] = [];
  const outcome = await executeCell(
    { code, language: 'javascript', timeoutMs: 5000 },
    {
      sandbox,
      recorder,
      signal: new AbortController().signal,
      maxOutputBytes: 1 << 20,
      onOutput: (_l: OutputLevel, text) => lines.push(text),
    },
  );
  return { outcome, lines };
}

const cell = `
const t0 = Date.now();
const r = [Math.random(), Math.random()];
const order = [];
setTimeout(() => order.push('slow'), 20);
setTimeout(() => order.push('fast'), 5);
await new Promise((resolve) => setTimeout(resolve, 40));
console.log(new Date().getTime() - t0 >= 0, order.join());
({ t0, r, order, perf: typeof performance.now() })`;

describe('journal hooks', () => {
  it('records the clock, the PRNG seed and timer order on a live run', async () => {
    const live = new LiveRecorder(
      () => 1_700_000_000_000,
      () => 42,
    );
    const { outcome } = await runIn(cell, live);
    expect(outcome.status).toBe('completed');
    expect(JSON.parse(outcome.result!)).toMatchObject({ t0: 1_700_000_000_000, order: ['fast', 'slow'] });
    const kinds = new Set(live.entries.map((e) => e.kind));
    expect(kinds).toEqual(new Set(['now', 'seed', 'timer']));
  });

  it('replays to the same result and output from the journal alone', async () => {
    const live = new LiveRecorder();
    const first = await runIn(cell, live);
    const replay = new ReplayRecorder(live.entries);
    const second = await runIn(cell, replay);
    expect(second.outcome.result).toBe(first.outcome.result);
    expect(second.lines).toEqual(first.lines);
    expect(replay.complete).toBe(true);
  });

  it('gives a different seed, hence different randomness, to independent live runs', async () => {
    const a = await runIn('Math.random()', new LiveRecorder());
    const b = await runIn('Math.random()', new LiveRecorder());
    expect(a.outcome.result).not.toBe(b.outcome.result);
  });

  it('fails a replay that asks for something the journal does not have', async () => {
    const live = new LiveRecorder();
    await runIn('Date.now()', live);
    const { outcome } = await runIn('Date.now(); Math.random()', new ReplayRecorder(live.entries));
    expect(outcome.status).toBe('failed');
  });
});

describe('replay delivery order', () => {
  it('holds a host result back until the timer that fired first in the live run has fired', async () => {
    const live = new LiveRecorder();
    const liveOrder: string[] = [];
    await new Promise<void>((done) => {
      let left = 2;
      const finish = () => --left === 0 && done();
      void live
        .hostCall(
          'fetch',
          '{"url":"https://example.test/"}',
          () => new Promise((r) => setTimeout(() => r('{"value":1}'), 30)),
        )
        .then(() => (liveOrder.push('fetch'), finish()));
      live.schedule(1, 5, () => (liveOrder.push('timer'), finish()));
    });
    expect(liveOrder).toEqual(['timer', 'fetch']);
    expect(live.entries.map((e) => e.kind)).toEqual(['call', 'timer', 'return']);

    const replay = new ReplayRecorder(live.entries);
    const order: string[] = [];
    const result = replay.hostCall('fetch', '{"url":"https://example.test/"}', () => {
      throw new Error('a replay must not fetch');
    });
    void result.then((r) => order.push(`fetch ${r}`));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]); // the timer has not been set yet, so the result must wait
    replay.schedule(1, 60_000, () => order.push('timer'));
    await result;
    expect(order).toEqual(['timer', 'fetch {"value":1}']);
    expect(replay.complete).toBe(true);
  });

  it('stops recording a journal that outgrows its bound instead of growing without end', async () => {
    const live = new LiveRecorder(Date.now, () => 1, { maxEntries: 10, maxChars: 1000 });
    for (let i = 0; i < 100; i++) live.now();
    expect(live.overflowed).toBe(true);
    expect(live.entries).toHaveLength(0);
  });
});
