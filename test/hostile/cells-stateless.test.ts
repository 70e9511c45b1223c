// A stateless server reuses isolates between cells (each cell in a fresh context): nothing a
// hostile cell leaves behind — polluted prototypes, replaced intrinsics, globals, finalizers and
// timers that print — reaches a later cell. Each case's check runs benign cells right after it
// (several, so every runner's isolate is visited) and inspects what they see and print.
import { describe, expect, it } from 'vitest';
import { completed, timedOut, type CaseRun, type CellCase } from './harness/cell-cases.ts';
import { runRequestCase, type RequestCase } from './harness/request-cases.ts';
import { describeEnd } from './harness/rest-calls.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer({ stateless: true });

/** Runs `code` six times after the case; each must complete with `result` and print no `marker`. */
const laterCellsSee =
  (code: string, result: string, marker = 'LEAK') =>
  async (_v: unknown, ctx: CaseRun): Promise<void> => {
    for (let i = 0; i < 6; i++) {
      const later = await ctx.run({ code });
      expect(later.status, describeEnd(later)).toBe('completed');
      expect(later.result, `later cell ${i}`).toBe(result);
      const out = await ctx.server.request('GET', `/api/executions/${later.execution_id}/output`);
      expect(out.text, `later cell ${i} output`).not.toContain(marker);
    }
  };

const GARBAGE = 'let a = []; for (let i = 0; i < 2e5; i++) a.push({ i }); a = null; "ok"';

const CASES: CellCase[] = [
  {
    name: 'a polluted Object.prototype does not reach the next cell',
    class: 'escape',
    code: 'Object.prototype.polluted = "LEAK"; Array.prototype.map = null; 1',
    accept: [completed({ result: '1' })],
    check: laterCellsSee('[({}).polluted ?? "clean", typeof [].map]', '["clean","function"]'),
  },
  {
    name: 'replaced intrinsics do not reach the next cell',
    class: 'forging',
    code: 'Promise.prototype.then = () => {}; JSON.stringify = () => "LEAK"; String.prototype.slice = () => "LEAK"; 1',
    accept: [completed({ result: '1' }), completed()],
    check: laterCellsSee('"abcdef".slice(1, 3) + JSON.stringify([1])', '"bc[1]"'),
  },
  {
    name: 'a global left behind is not visible',
    class: 'escape',
    code: 'globalThis.leftover = "LEAK"; var leftVar = "LEAK"; 1',
    accept: [completed({ result: '1' })],
    check: laterCellsSee('[typeof leftover, typeof leftVar]', '["undefined","undefined"]'),
  },
  {
    name: 'a finalizer left behind never prints into a later cell',
    class: 'escape',
    code: 'const r = new FinalizationRegistry(() => console.log("LEAK-FINALIZER")); for (let i = 0; i < 1e5; i++) r.register({}, i); globalThis.r = r; 1',
    accept: [completed({ result: '1' })],
    check: laterCellsSee(GARBAGE, '"ok"'),
  },
  {
    name: 'a timer past the deadline never prints into a later cell',
    class: 'escape',
    code: 'setTimeout(() => console.log("LEAK-TIMER"), 1500); 1',
    limits: { timeoutSecs: 1 },
    accept: [timedOut()],
    check: laterCellsSee('await new Promise((r) => setTimeout(r, 300)); "ok"', '"ok"'),
  },
  {
    name: 'a microtask chain left spinning does not reach the next cell',
    class: 'escape',
    code: 'globalThis.spin = () => Promise.resolve().then(() => { console.log("LEAK-MICRO"); }); setTimeout(() => { for (;;); }, 5); spin(); 1',
    accept: [timedOut()],
    check: laterCellsSee('"fresh"', '"fresh"'),
  },
];

const STATELESS_REQUESTS: RequestCase[] = [
  {
    name: 'a heap on a stateless server',
    method: 'POST',
    path: '/api/exec',
    body: { code: '1', heap: 'a'.repeat(64) },
    status: [400],
    codes: ['MCPV8_ERR_SESSION_STATELESS'],
  },
  {
    name: 'a session on a stateless server',
    method: 'POST',
    path: '/api/exec',
    body: { code: '1', session: 's' },
    status: [400],
    codes: ['MCPV8_ERR_SESSION_STATELESS'],
  },
  {
    name: 'session routes on a stateless server',
    method: 'GET',
    path: '/api/sessions',
    status: [400, 404],
    codes: ['MCPV8_ERR_SESSION_STATELESS', 'MCPV8_ERR_ROUTE_NOT_FOUND'],
  },
];

describe('stateless isolation', () => file.cellCases(CASES));
describe('stateless requests', () => {
  for (const c of STATELESS_REQUESTS) {
    it(c.name, () => runRequestCase(file.server, file.victim, { longLine: '', heap: '' }, c), 120_000);
  }
});
describe('the whole file', () => file.closingChecks());
