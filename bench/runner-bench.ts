/**
 * Runner benchmark (`npm run bench:runner`): (1) the time of a trivial stateless cell taken from
 * a warm SandboxPool, inside one process, as a runner sees it — in a fresh isolate, and in a
 * fresh context of a reused isolate; (2) trivial
 * executions per second through the ChildRunnerPool supervisor (IPC included), closed loop.
 * Writes bench/results/runner.md and prints it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { ChildRunnerPool } from '../src/local/child-runner-pool.ts';
import { executeCell } from '../src/runner/execute-cell.ts';
import { LiveRecorder } from '../src/runner/recorder.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../src/runner/runner-process.ts';
import {
  DEFAULT_CELLS_PER_ISOLATE,
  DEFAULT_MAX_IDLE_ISOLATES,
  SandboxPool,
} from '../src/runner/sandbox/sandbox-pool.ts';

const { values } = parseArgs({
  options: {
    cells: { type: 'string', default: '2000' },
    executions: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
  },
});
const cells = Number(values.cells);
const executions = Number(values.executions);
const concurrency = Number(values.concurrency);

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** `fresh`: a new isolate per cell; `reused`: a new context per cell in a reused isolate. */
async function inProcess(
  mode: 'fresh' | 'reused',
): Promise<{ median: number; p95: number; perSecond: number }> {
  const { wasmModules: _none, ...sandboxDefaults } = DEFAULT_RUNNER_OPTIONS;
  const pool = new SandboxPool({
    ...sandboxDefaults,
    size: 4,
    cellsPerIsolate: mode === 'fresh' ? 1 : DEFAULT_CELLS_PER_ISOLATE,
    maxIdleIsolates: DEFAULT_MAX_IDLE_ISOLATES,
  });
  await pool.warm();
  const times: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < cells; i++) {
    // A warm runner has refilled its pool between requests: time the cell, not the refill.
    await pool.warm();
    const start = performance.now();
    const sandbox = await pool.acquireStateless(8, 'bench');
    const outcome = await executeCell(
      { code: '1 + 1', language: 'javascript', timeoutMs: 5000 },
      {
        sandbox,
        recorder: new LiveRecorder(),
        signal: new AbortController().signal,
        maxOutputBytes: 1 << 20,
        onOutput: () => {},
      },
    );
    times.push(performance.now() - start);
    pool.release(sandbox);
    if (outcome.result !== '2') throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
  }
  const total = performance.now() - t0;
  pool.close();
  // perSecond here includes the refill, i.e. one runner process doing nothing else.
  times.sort((a, b) => a - b);
  return { median: pct(times, 50), p95: pct(times, 95), perSecond: (cells / total) * 1000 };
}

async function throughSupervisor(
  runners: number,
  perRunner: number,
): Promise<{ perSecond: number; p50: number; p95: number }> {
  const pool = new ChildRunnerPool({ runners, concurrencyPerRunner: perRunner });
  await pool.whenReady();
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < executions) {
        const id = `b${next++}`;
        const start = performance.now();
        const o = await pool.run(
          { executionId: id, code: '1 + 1', language: 'javascript', heapMb: 8, timeoutMs: 5000 },
          () => {},
          new AbortController().signal,
        );
        latencies.push(performance.now() - start);
        if (o.status !== 'completed') throw new Error(`unexpected outcome ${JSON.stringify(o)}`);
      }
    }),
  );
  const total = performance.now() - t0;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: (executions / total) * 1000, p50: pct(latencies, 50), p95: pct(latencies, 95) };
}

const cores = availableParallelism();
const rows: string[] = [];
for (const mode of ['fresh', 'reused'] as const) {
  const ip = await inProcess(mode);
  const what =
    mode === 'fresh'
      ? 'trivial cell in a fresh isolate of a warm runner (per second: create + run, one process)'
      : `trivial cell in a fresh context of a reused isolate (${DEFAULT_CELLS_PER_ISOLATE} cells per isolate; per second: context + run, one process)`;
  rows.push(
    `| ${what} | ${cells} | ${ip.median.toFixed(2)} | ${ip.p95.toFixed(2)} | ${ip.perSecond.toFixed(0)} |`,
  );
}
for (const [runners, perRunner] of [
  [cores, 1],
  [cores, 4],
] as const) {
  const s = await throughSupervisor(runners, perRunner);
  rows.push(
    `| trivial execution via ChildRunnerPool (${runners} runners × ${perRunner}), ${concurrency} in flight | ${executions} | ${s.p50.toFixed(2)} | ${s.p95.toFixed(2)} | ${s.perSecond.toFixed(0)} |`,
  );
}
const report = `# Runner benchmark

Machine: ${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.
Command: \`npm run bench:runner\` (cells=${cells}, executions=${executions}, concurrency=${concurrency}).

| what | runs | median / p50 ms | p95 ms | per second |
| --- | ---: | ---: | ---: | ---: |
${rows.join('\n')}
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/runner.md', import.meta.url), report);
console.log(report);
