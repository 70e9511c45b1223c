// How a cell ended is the host's reading, in one sandbox run after another: a report the cell
// made after it ended never becomes a later cell's, and a cell's own errors are reported
// bounded and without host frames.
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionOutcome } from '../../../src/core/index.ts';
import type { HostCallHandler } from '../../../src/runner/sandbox/cell-run.ts';
import { Sandbox } from '../../../src/runner/sandbox/sandbox.ts';
import { runCell } from '../run-cell.ts';

let sandbox: Sandbox | undefined;
afterEach(() => sandbox?.dispose());

async function open(): Promise<Sandbox> {
  sandbox = await Sandbox.create({
    heapMb: 16,
    maxOutputBytes: 1 << 20,
    maxResultBytes: 1 << 20,
    maxTimers: 100,
    maxWasmPages: 16,
    // `fetch` is a host call whose answer the test holds back.
    capabilities: ['fetch'],
  });
  return sandbox;
}

function runIn(s: Sandbox, code: string, hostCall?: HostCallHandler): Promise<ExecutionOutcome> {
  return runCell(s, code, hostCall && { hostCall });
}

describe('a cell that ended early', () => {
  it('settling later does not hand its value to the next cell of the context', async () => {
    const s = await open();
    let answer: (() => void) | undefined;
    const slow: HostCallHandler = () => new Promise((resolve) => (answer = () => resolve('late')));
    const first = await runIn(
      s,
      'setTimeout(() => { throw new Error("ends it") }, 1); await fetch("http://example.test/"); "stale"',
      slow,
    );
    expect(first).toMatchObject({ status: 'failed', error: { message: 'ends it' } });
    // The first cell's host call answers while the second cell runs.
    const second = runIn(s, 'await new Promise((r) => setTimeout(r, 50)); "fresh"');
    answer?.();
    expect(await second).toMatchObject({ status: 'completed', result: '"fresh"' });
  });

  it('a throw before the first await is reported with the thrown value, not a host message', async () => {
    const s = await open();
    const outcome = await runIn(s, 'throw { code: 7 }');
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.message).toContain('code: 7');
  });
});
