// Hostile output: floods (empty lines count against the cap like any other), huge lines,
// console.table/group/count/time/trace abuse, replaced console methods. Output stays under its
// 1 MiB cap with output_truncated set, and the result still arrives. See harness/hostile-server.ts.
import { describe } from 'vitest';
import { HEAVY, completed, oom, threw, timedOut, type CellCase } from './harness/cell-cases.ts';
import { useHostileServer } from './harness/suite.ts';

const file = useHostileServer();
/** Long enough for a flood to reach the 1 MiB output cap on a loaded machine. */
const FLOOD = { timeoutSecs: 5 };
/** A record cut short with a visible marker (the inspector's per-record bound), not by the cap. */
const CUT_RECORD = /… \[truncated \d+ chars\]\n$/;

const OUTPUT: CellCase[] = [
  {
    name: 'for(;;) console.log() — empty lines count against the cap',
    class: 'output',
    code: 'for (;;) console.log()',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'for(;;) console.log("")',
    class: 'output',
    code: 'for (;;) console.log("")',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'for(;;) console.info() in a timer loop',
    class: 'output',
    code: 'setInterval(() => { for (let i = 0; i < 1e4; i++) console.info(); }, 0); 1',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'for(;;) console.log("x")',
    class: 'output',
    code: 'for (;;) console.log("x")',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'a million numbered lines, then a result',
    class: 'output',
    code: 'for (let i = 0; i < 1e6; i++) console.log(i); "done"',
    limits: HEAVY,
    accept: [completed({ result: '"done"', outputTruncated: true }), timedOut({ outputTruncated: true })],
  },
  {
    name: 'one 5 MB line',
    class: 'output',
    code: 'console.log("x".repeat(5e6)); 1',
    limits: HEAVY,
    accept: [
      completed({ result: '1', outputTruncated: true }),
      completed({ result: '1', output: CUT_RECORD }),
    ],
  },
  {
    name: 'one 1 MiB + 1 line',
    class: 'output',
    code: 'console.log("y".repeat((1 << 20) + 1)); 1',
    limits: HEAVY,
    accept: [
      completed({ result: '1', outputTruncated: true }),
      completed({ result: '1', output: CUT_RECORD }),
    ],
  },
  {
    name: 'two million newlines in one call',
    class: 'output',
    code: 'console.log("\\n".repeat(2e6)); 1',
    limits: HEAVY,
    accept: [
      completed({ result: '1', outputTruncated: true }),
      completed({ result: '1', output: CUT_RECORD }),
    ],
  },
  {
    name: 'console.table of 100k rows',
    class: 'output',
    code: 'console.table(Array.from({ length: 1e5 }, (_, i) => ({ a: i, b: "x".repeat(20) }))); 1',
    accept: [completed({ result: '1' }), timedOut(), oom],
  },
  {
    name: 'console.table of an object with 1e5 keys',
    class: 'output',
    code: 'const o = {}; for (let i = 0; i < 1e5; i++) o["k" + i] = { v: i }; console.table(o); 1',
    accept: [completed({ result: '1' }), timedOut(), oom],
  },
  {
    name: 'console.group nesting flood with a line each',
    class: 'output',
    code: 'for (let i = 0; i < 1e6; i++) console.group("g"); console.log("deep"); 1',
    accept: [completed({ result: '1', outputTruncated: true }), timedOut({ outputTruncated: true }), oom],
  },
  {
    name: 'console.group nesting without end, silent',
    class: 'output',
    code: 'for (;;) console.group()',
    accept: [timedOut(), oom, threw(/RangeError/)],
  },
  {
    name: 'console.count with endless labels',
    class: 'output',
    code: 'for (let i = 0; ; i++) console.count("l" + i)',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true }), oom],
  },
  {
    name: 'console.time with endless labels',
    class: 'output',
    code: 'for (let i = 0; ; i++) console.time("t" + i)',
    accept: [timedOut(), oom],
  },
  {
    name: 'console.trace flood',
    class: 'output',
    code: 'for (;;) console.trace("t")',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'console.assert(false) flood',
    class: 'output',
    code: 'for (;;) console.assert(false)',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'console.error of a deep object flood',
    class: 'output',
    code: 'let o = {}; for (let i = 0; i < 1000; i++) o = { o }; for (;;) console.error(o)',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'console.log with 1e5 format specifiers',
    class: 'output',
    code: 'console.log("%s %d %o %O %j".repeat(2e4), ...Array(1e5).fill({ a: 1 })); 1',
    limits: HEAVY,
    accept: [completed({ result: '1' })],
  },
  {
    name: 'console.log of a 1e7-element sparse array',
    class: 'output',
    code: 'console.log(new Array(1e7)); 1',
    accept: [completed({ result: '1' }), oom],
  },
  {
    name: 'console.dir of a huge Map',
    class: 'output',
    code: 'console.dir(new Map(Array.from({ length: 2e5 }, (_, i) => [i, i]))); 1',
    accept: [completed({ result: '1' }), timedOut(), oom],
  },
  {
    name: 'console.log of a Proxy whose traps throw',
    class: 'output',
    code: 'console.log(new Proxy({}, { get() { throw new Error("trap"); }, ownKeys() { throw new Error("keys"); } })); 1',
    accept: [completed({ result: '1' }), threw(undefined, /trap|keys/)],
  },
  {
    name: 'console.log of an object whose inspect symbol loops',
    class: 'output',
    code: 'console.log({ [Symbol.for("nodejs.util.inspect.custom")]() { for (;;); } }); 1',
    accept: [completed({ result: '1' }), timedOut()],
  },
  {
    name: 'console.log replaced, then flooding through the original',
    class: 'output',
    code: 'const log = console.log; console.log = () => { throw new Error("nope"); }; for (;;) log("x".repeat(100))',
    limits: FLOOD,
    accept: [timedOut({ outputTruncated: true })],
  },
  {
    name: 'output after the cap still lets the result through',
    class: 'output',
    code: 'for (let i = 0; i < 2e5; i++) console.log("x".repeat(10)); "after"',
    limits: HEAVY,
    accept: [completed({ result: '"after"', outputTruncated: true })],
  },
];

describe.concurrent('output', () => file.cellCases(OUTPUT));
describe('the whole file', () => file.closingChecks());
