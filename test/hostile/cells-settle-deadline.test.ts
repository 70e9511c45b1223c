// Cells whose result settles strangely (unhandled rejections, thenables, results that never
// settle) and deadline races that try to commit half-run work: an unhandled rejection fails the
// cell like an uncaught timer error; past the deadline only timed_out, nothing committed, and the
// heap the cell resumed is left as it was. No case makes its runner fail or get replaced (each
// checks the runner restart count, so they run one at a time). See harness/hostile-server.ts.
import { describe, expect } from 'vitest';
import { HEAVY, completed, oom, threw, timedOut, type CaseRun, type CellCase } from './harness/cell-cases.ts';
import { describeEnd } from './harness/rest-calls.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();

const REJECTIONS_AND_THENABLES: CellCase[] = [
  {
    name: 'Promise.reject(new Error("a")); 1 fails the cell',
    class: 'forging',
    code: 'Promise.reject(new Error("a")); 1',
    accept: [threw(/^Error$/, /^a$/)],
  },
  {
    name: 'an unhandled rejection with a non-error value',
    class: 'forging',
    code: 'Promise.reject(42); 1',
    accept: [threw()],
  },
  {
    name: 'a handled rejection does not fail the cell',
    class: 'forging',
    code: 'Promise.reject(new Error("b")).catch(() => {}); 1',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'a rejection in a timer after the cell settled',
    class: 'forging',
    code: 'new Promise((_, rej) => setTimeout(() => rej(new Error("timer-reject")), 5)); 1',
    accept: [threw(undefined, /timer-reject/)],
  },
  {
    name: 'an async function that throws, not awaited',
    class: 'forging',
    code: '(async () => { throw new TypeError("bg"); })(); 1',
    accept: [threw(/TypeError/, /bg/)],
  },
  {
    name: 'a thenable result',
    class: 'forging',
    code: '({ then(ok) { ok(42); } })',
    accept: [completed({ result: '42' })],
  },
  {
    name: 'a thenable that throws',
    class: 'forging',
    code: '({ then() { throw new Error("thenable"); } })',
    accept: [threw(undefined, /thenable/)],
  },
  {
    name: 'a thenable that never calls back',
    class: 'forging',
    code: '({ then() {} })',
    accept: [timedOut(), threw()],
  },
  {
    name: 'a thenable resolving to itself forever',
    class: 'forging',
    code: 'const t = { then(ok) { ok(t); } }; t',
    accept: [timedOut(), oom],
  },
  {
    name: 'a thenable resolving to 3 MB',
    class: 'forging',
    code: '({ then(ok) { ok("x".repeat(3e6)); } })',
    limits: HEAVY,
    accept: [completed({ resultTruncated: true })],
  },
  {
    name: 'a thenable calling back twice with different values',
    class: 'forging',
    code: '({ then(ok, no) { ok(1); ok(2); no(new Error("no")); } })',
    accept: [completed({ result: '1' })],
  },
  {
    name: 'a Proxy that is a thenable',
    class: 'forging',
    code: 'new Proxy({}, { get(_, k) { return k === "then" ? (ok) => ok("via proxy") : undefined; } })',
    accept: [completed({ result: '"via proxy"' })],
  },
  {
    name: 'a result promise that never settles',
    class: 'forging',
    code: 'new Promise(() => {})',
    accept: [timedOut(), threw()],
  },
  {
    name: 'await of a promise that never settles',
    class: 'forging',
    code: 'await new Promise(() => {}); 1',
    accept: [timedOut(), threw()],
  },
];

/** Resumes the case's base heap: the timed-out cell must have left it untouched. */
async function baseUntouched(v: unknown, ctx: CaseRun): Promise<void> {
  const snapshots = await ctx.server.request('GET', `/api/sessions/${ctx.session}/snapshots`);
  expect((snapshots.json as { entries?: unknown[] }).entries, 'session log after the race').toHaveLength(1);
  const again = await ctx.run({ code: 'typeof half', heap: ctx.baseHeap, session: ctx.session });
  expect(again.status, describeEnd(again)).toBe('completed');
  expect(again.result, 'the base heap resumed after the timed-out cell').toBe('"undefined"');
}

const base = 'globalThis.base = 1';
const DEADLINES: CellCase[] = [
  ...[1, 2, 3, 4].map((n): CellCase => ({
    name: `timer spins past a 1 s deadline after setting a global (run ${n})`,
    class: 'deadline',
    base,
    code: 'setTimeout(() => { globalThis.half = 1; for (;;); }, 10); 1',
    limits: { timeoutSecs: 1 },
    accept: [timedOut()],
    check: baseUntouched,
  })),
  {
    name: 'microtask spins past the deadline after setting a global',
    class: 'deadline',
    base,
    code: 'Promise.resolve().then(() => { globalThis.half = 1; for (;;); }); 1',
    limits: { timeoutSecs: 1 },
    accept: [timedOut()],
    check: baseUntouched,
  },
  {
    name: 'resumes after an await near the deadline, then spins',
    class: 'deadline',
    base,
    code: 'await new Promise((r) => setTimeout(r, 900)); globalThis.half = 1; for (;;);',
    limits: { timeoutSecs: 1 },
    accept: [timedOut()],
    check: baseUntouched,
  },
  {
    name: 'sets a global, then an interval holds it past the deadline',
    class: 'deadline',
    base,
    code: 'globalThis.half = 1; setInterval(() => {}, 1); 1',
    limits: { timeoutSecs: 1 },
    accept: [timedOut()],
    check: baseUntouched,
  },
  {
    name: 'busy until just before the deadline: either completed with a heap that has it, or timed out without one',
    class: 'deadline',
    base,
    code: 'globalThis.half = 1; const t0 = performance.now(); while (performance.now() - t0 < 990); 1',
    limits: { timeoutSecs: 1 },
    accept: [completed({ result: '1' }), timedOut()],
    check: async (v, ctx) => {
      if (v.status !== 'completed') return baseUntouched(v, ctx);
      const again = await ctx.run({ code: 'typeof half', heap: v.heap, session: ctx.session });
      expect(again.result, `resuming the committed heap: ${describeEnd(again)}`).toBe('"number"');
    },
  },
];

describe('rejections, thenables, never-settling results', () =>
  file.cellCases(REJECTIONS_AND_THENABLES, { runnerServesOn: true }));
describe('deadline races', () => file.cellCases(DEADLINES, { runnerServesOn: true }));
describe('the whole file', () => file.closingChecks({ runnerRestartsMax: 0 }));
