// The guard's choice, with the process's resident size and each isolate's CPU time given by the
// test (stand-in sandboxes: only `disposed` and `dispose` are used). The real thing — a wasm
// memory hog beside a waiting cell on one runner — is in test/local/cell-containment.test.ts.
import { describe, expect, it } from 'vitest';
import { RunningMemoryGuard } from '../../src/runner/running-memory-guard.ts';
import type { Sandbox } from '../../src/runner/sandbox/sandbox.ts';

interface Cell {
  sandbox: Sandbox;
  cpu: number;
}

function cell(): Cell {
  const state = { disposed: false };
  const sandbox = {
    get disposed() {
      return state.disposed;
    },
    dispose: () => {
      state.disposed = true;
    },
  } as unknown as Sandbox;
  return { sandbox, cpu: 0 };
}

function guardOver(cells: Cell[], rss: { bytes: number }, relieve = () => {}) {
  const byBox = new Map(cells.map((c) => [c.sandbox, c]));
  return new RunningMemoryGuard({
    maxRssBytes: 100,
    relieve,
    rss: () => rss.bytes,
    cpuTime: (s) => byBox.get(s)!.cpu,
  });
}

describe('the running memory guard', () => {
  it('stops only the cell that used the most CPU since it began, not the ones beside it', () => {
    const [waiting, hog, light] = [cell(), cell(), cell()];
    waiting.cpu = 5_000; // CPU before its cell began does not count
    const rss = { bytes: 50 };
    const guard = guardOver([waiting, hog, light], rss);
    for (const c of [waiting, hog, light]) guard.begin(c.sandbox);
    hog.cpu = 900;
    light.cpu = 10;
    waiting.cpu = 5_001;
    guard.check();
    expect(guard.stopped).toBe(0);
    rss.bytes = 500;
    guard.check();
    expect([waiting, hog, light].map((c) => c.sandbox.disposed)).toEqual([false, true, false]);
    expect(guard.stopped).toBe(1);
    guard.close();
  });

  it('lets idle memory go first and stops nothing when that was enough', () => {
    const hog = cell();
    const rss = { bytes: 500 };
    const guard = guardOver([hog], rss, () => (rss.bytes = 50));
    guard.begin(hog.sandbox);
    guard.check();
    expect(hog.sandbox.disposed).toBe(false);
    guard.close();
  });

  it('stops the next cell only after the first has ended and a check has passed', () => {
    const [a, b] = [cell(), cell()];
    const rss = { bytes: 500 };
    const guard = guardOver([a, b], rss);
    guard.begin(a.sandbox);
    guard.begin(b.sandbox);
    a.cpu = 10;
    b.cpu = 20;
    guard.check();
    expect([a.sandbox.disposed, b.sandbox.disposed]).toEqual([false, true]);
    guard.check(); // b has not unwound yet: its memory is not freed
    expect(a.sandbox.disposed).toBe(false);
    guard.end(b.sandbox);
    guard.check(); // one check for b's memory to show as freed
    expect(a.sandbox.disposed).toBe(false);
    guard.check(); // still over with b gone: a goes too
    expect(a.sandbox.disposed).toBe(true);
    expect(guard.stopped).toBe(2);
    guard.close();
  });

  it('stops nothing once the stopped cell freed enough', () => {
    const [a, b] = [cell(), cell()];
    const rss = { bytes: 500 };
    const guard = guardOver([a, b], rss);
    guard.begin(a.sandbox);
    guard.begin(b.sandbox);
    b.cpu = 20;
    guard.check();
    guard.end(b.sandbox);
    rss.bytes = 50;
    guard.check();
    guard.check();
    guard.check();
    expect(a.sandbox.disposed).toBe(false);
    expect(guard.stopped).toBe(1);
    guard.close();
  });
});

describe('what the guard tells the runner', () => {
  it('names the cells it stopped, and only those', () => {
    const [hog, other] = [cell(), cell()];
    const guard = guardOver([hog, other], { bytes: 500 });
    guard.begin(hog.sandbox);
    guard.begin(other.sandbox);
    hog.cpu = 10;
    guard.check();
    expect(guard.stoppedCell(hog.sandbox)).toBe(true);
    expect(guard.stoppedCell(other.sandbox)).toBe(false);
    guard.close();
  });
});
