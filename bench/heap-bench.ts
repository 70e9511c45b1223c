/**
 * Heap benchmark (`npm run bench:heaps`): what persistent sessions add to an execution's latency,
 * measured through the ChildRunnerPool supervisor (IPC, one runner process, a directory store):
 *   - baseline: a stateless trivial execution;
 *   - a stateful execution starting a session (journal + commit to the store);
 *   - resuming with a live cache hit (the next cell of the session, no replay);
 *   - a cold resume of a 20-cell history (a runner that never held it: chain read from the
 *     store by a fresh supervisor, all 20 cells replayed, then the cell).
 * Writes bench/results/heaps.md and prints it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RunRequest } from '../src/core/index.ts';
import { ChildRunnerPool } from '../src/local/child-runner-pool.ts';
import { DirHeapStore } from '../src/local/heap-store.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '400' }, cold: { type: 'string', default: '20' } },
});
const runs = Number(values.runs);
const coldRuns = Number(values.cold);
const dir = mkdtempSync(join(tmpdir(), 'heap-bench-'));
const heaps = new DirHeapStore(dir);
let seq = 0;

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p95: pct(s, 95) };
};

async function timed(pool: ChildRunnerPool, req: Partial<RunRequest> & { code: string }) {
  const start = performance.now();
  const o = await pool.run(
    { executionId: `b${++seq}`, language: 'javascript', heapMb: 8, timeoutMs: 30_000, ...req },
    () => {},
    new AbortController().signal,
  );
  const ms = performance.now() - start;
  if (o.status !== 'completed') throw new Error(`unexpected outcome ${JSON.stringify(o)}`);
  return { ms, heap: o.heap };
}

/** A realistic session cell: data, a function, the clock, randomness and a timer. */
const historyCell = (i: number) => `
var data${i} = Array.from({ length: 200 }, (_, j) => j * ${i});
function f${i}(x) { return x + data${i}[${i}]; }
var at${i} = Date.now(); var r${i} = Math.random();
await new Promise((resolve) => setTimeout(resolve, 1));
data${i}.length`;

const pool = new ChildRunnerPool({ runners: 1, heaps });
await pool.whenReady();
const baseline: number[] = [];
const fresh: number[] = [];
const live: number[] = [];
let head = (await timed(pool, { code: 'var n = 0;', persist: true })).heap!;
// Separate loops: a fresh session's isolate stays live and evicts an older one, whose disposal
// would otherwise land on the next measurement.
for (let i = 0; i < runs; i++) baseline.push((await timed(pool, { code: '1 + 1' })).ms);
for (let i = 0; i < runs; i++) {
  const next = await timed(pool, { code: '++n', persist: true, heap: head });
  live.push(next.ms);
  head = next.heap!;
}
for (let i = 0; i < runs; i++) fresh.push((await timed(pool, { code: '1 + 1', persist: true })).ms);
// The 20-cell history.
let tip: string | undefined;
for (let i = 1; i <= 20; i++)
  tip = (await timed(pool, { code: historyCell(i), persist: true, heap: tip })).heap;
await pool.close();

const cold: number[] = [];
const coldBaseline: number[] = [];
for (let i = 0; i < coldRuns; i++) {
  // A new supervisor and runner each time: nothing live, no decoded node in memory.
  const fresh = new ChildRunnerPool({ runners: 1, heaps });
  await fresh.whenReady();
  coldBaseline.push((await timed(fresh, { code: '1 + 1' })).ms);
  cold.push((await timed(fresh, { code: 'f20(1) + data1.length', persist: true, heap: tip })).ms);
  await fresh.close();
}
// Steady state of a miss: a warm runner that keeps nothing live (as after an eviction).
const noLive = new ChildRunnerPool({ runners: 1, heaps, runner: { liveHeaps: 0 } });
await noLive.whenReady();
const warmBaseline: number[] = [];
const warmReplay: number[] = [];
for (let i = 0; i < 10; i++) await timed(noLive, { code: 'f20(1)', persist: true, heap: tip });
for (let i = 0; i < coldRuns * 5; i++) {
  warmBaseline.push((await timed(noLive, { code: '1 + 1' })).ms);
  warmReplay.push((await timed(noLive, { code: 'f20(1) + data1.length', persist: true, heap: tip })).ms);
}
await noLive.close();
rmSync(dir, { recursive: true, force: true });

const b = stats(baseline);
const row = (what: string, xs: number[], base: { p50: number }) => {
  const s = stats(xs);
  const added = s.p50 - base.p50;
  return `| ${what} | ${xs.length} | ${s.p50.toFixed(2)} | ${s.p95.toFixed(2)} | ${added >= 0 ? '+' : '−'}${Math.abs(added).toFixed(2)} |`;
};
const report = `# Heap (persistent session) benchmark

Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.
Command: \`npm run bench:heaps\` (runs=${runs}, cold=${coldRuns}). Through the ChildRunnerPool supervisor
(IPC included), one runner process, heaps in a directory store; trivial cells unless stated.

| what | runs | p50 ms | p95 ms | added to baseline p50, ms |
| --- | ---: | ---: | ---: | ---: |
${row('baseline: stateless execution', baseline, b)}
${row('stateful execution starting a session (journal + commit)', fresh, b)}
${row('resume with a live cache hit (next cell of the session)', live, b)}
${row('cold resume of a 20-cell history (fresh runner: read chain, replay 20 cells, run)', cold, stats(coldBaseline))}
${row('resume of a 20-cell history on a warm runner that does not hold it (replay 20 cells, run)', warmReplay, stats(warmBaseline))}

The cold row's baseline is a stateless execution on the same fresh runner (p50 ${stats(coldBaseline).p50.toFixed(2)} ms:
a new process's code is not yet optimised); the warm-miss row's is a stateless execution on that
runner (p50 ${stats(warmBaseline).p50.toFixed(2)} ms).
A live-cache resume can be cheaper than the stateless baseline: it creates and disposes no
isolate, while a stateless execution's isolate is disposed (milliseconds of CPU) after it reports.
Each history cell builds a 200-element array, defines a function, reads the clock and the PRNG and
awaits a 1 ms timer; replay answers all of that from the journal and fires the timer at once.
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/heaps.md', import.meta.url), report);
console.log(report);
