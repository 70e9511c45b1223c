/**
 * Hostile cells as data: one entry per case (name, class, code, language, limits, the end states
 * it may reach) and the one routine that runs a case and checks everything every case must hold
 * (end state, time, size bounds of result and error, output cap, no host leaks, server healthy,
 * victim still succeeding, gateway RSS under its cap).
 */
import { expect } from 'vitest';
import { hostLeaks } from './host-leaks.ts';
import { checkServerAndVictim, watchCase } from './case-watch.ts';
import type { HostileServer } from './hostile-server.ts';
import { describeEnd, execAndWait, readAllOutput, type ExecutionView } from './rest-calls.ts';
import type { Victim } from './victim.ts';

export type CaseClass =
  | 'cpu'
  | 'async'
  | 'timers'
  | 'memory'
  | 'output'
  | 'result'
  | 'forging'
  | 'deadline'
  | 'escape'
  | 'stack'
  | 'module'
  | 'typescript'
  | 'syntax';

export type Reason =
  'Error' | 'SyntaxError' | 'OutOfMemory' | 'Timeout' | 'Cancelled' | 'ModuleError' | 'HeapError';

/** One acceptable way for a case to end; unset fields are not checked. */
export interface EndState {
  status: 'completed' | 'failed' | 'timed_out' | 'cancelled';
  reason?: Reason;
  /** Error name (failed). */
  name?: RegExp;
  /** Error message (failed). */
  message?: RegExp;
  /** Exact result text, or a pattern it matches. */
  result?: string | RegExp;
  resultType?: string;
  resultTruncated?: boolean;
  outputTruncated?: boolean;
  /** A pattern the whole output matches. */
  output?: RegExp;
}

export interface CellCase {
  name: string;
  class: CaseClass;
  code: string;
  language?: 'javascript' | 'typescript';
  /** Per-execution limits; default: the server's (2 s, 16 MiB). */
  limits?: { timeoutSecs?: number; heapMb?: number };
  /** Runs as a cell of a session of its own (stateful servers). */
  session?: boolean;
  /** Stateful: a cell run first in the case's session; the case resumes the heap it committed. */
  base?: string;
  /** The end states this case may reach. */
  accept: EndState[];
  /** More checks on the ended execution (and what the case wants to do next, e.g. resume its heap). */
  check?: (view: ExecutionView, ctx: CaseRun) => Promise<void> | void;
}

/** What a `check` gets: the server, the output text, and a way to run follow-up cells. */
export interface CaseRun {
  server: HostileServer;
  output: string;
  /** The case's session and the heap its `base` cell committed (stateful cases). */
  session?: string;
  baseHeap?: string;
  /** Runs another cell as the hostile client, checking it like a case (leaks, bounds). */
  run(args: {
    code: string;
    language?: 'javascript' | 'typescript';
    heap?: string;
    session?: string;
    timeoutSecs?: number;
  }): Promise<ExecutionView>;
}

/** Legitimate but heavy work: a limit that a loaded machine cannot turn into a timeout. */
export const HEAVY = { timeoutSecs: 10 };

// --- end-state builders ------------------------------------------------------------------------

export const completed = (o: Omit<EndState, 'status' | 'reason'> = {}): EndState => ({
  status: 'completed',
  ...o,
});
export const failed = (reason: Reason, o: Omit<EndState, 'status' | 'reason'> = {}): EndState => ({
  status: 'failed',
  reason,
  ...o,
});
export const timedOut = (o: Omit<EndState, 'status' | 'reason'> = {}): EndState => ({
  status: 'timed_out',
  reason: 'Timeout',
  ...o,
});
export const oom: EndState = failed('OutOfMemory');
/** The cell's own code threw (any error class). */
export const threw = (name?: RegExp, message?: RegExp): EndState =>
  failed('Error', { ...(name && { name }), ...(message && { message }) });

// --- bounds every execution must respect ------------------------------------------------------

export const RESULT_MAX_CHARS = 1 << 20;
/** Room for JSON quoting and a truncation marker. */
const RESULT_SLACK = 64;
const OUTPUT_MAX_BYTES = 1 << 20;
/** Room for the `[output truncated …]` line. */
const OUTPUT_SLACK = 4096;
/**
 * How far past its deadline an execution may end: runner teardown, the supervisor's own 2 s
 * grace, recording the outcome — on a loaded 2-core machine.
 */
export const END_GRACE_MS = 4000;

function matches(v: ExecutionView, output: string, s: EndState): boolean {
  if (v.status !== s.status) return false;
  if (s.reason && v.error?.reason !== s.reason) return false;
  if (s.name && !s.name.test(v.error?.name ?? '')) return false;
  if (s.message && !s.message.test(v.error?.message ?? '')) return false;
  if (s.result !== undefined) {
    if (v.result === undefined) return false;
    if (typeof s.result === 'string' ? v.result !== s.result : !s.result.test(v.result)) return false;
  }
  if (s.resultType !== undefined && v.result_type !== s.resultType) return false;
  if (s.resultTruncated !== undefined && (v.result_truncated ?? false) !== s.resultTruncated) return false;
  if (s.outputTruncated !== undefined && (v.output_truncated ?? false) !== s.outputTruncated) return false;
  if (s.output && !s.output.test(output)) return false;
  return true;
}

function describeAccepted(accept: EndState[]): string {
  return accept
    .map((s) =>
      Object.entries(s)
        .map(([k, val]) => `${k}=${val instanceof RegExp ? String(val) : JSON.stringify(val)}`)
        .join(' '),
    )
    .join(' | ');
}

/** Checks the bounds every ended execution must respect, whatever its case. */
export function checkBounds(v: ExecutionView, timeoutSecs: number, label: string): void {
  const what = `${label}: ${describeEnd(v)}`;
  expect(['completed', 'failed', 'timed_out', 'cancelled'], what).toContain(v.status);
  expect(['RunnerCrashed', 'RunnerLost'], `${what} — a cell must fail itself, not its runner`).not.toContain(
    v.error?.reason,
  );
  if (v.started_at && v.completed_at) {
    const ran = Date.parse(v.completed_at) - Date.parse(v.started_at);
    expect(ran, `${what} — ran ${ran} ms, limit ${timeoutSecs} s`).toBeLessThanOrEqual(
      timeoutSecs * 1000 + END_GRACE_MS,
    );
  }
  if (v.result !== undefined) {
    expect(v.result.length, `${what} — result longer than 1 MiB`).toBeLessThanOrEqual(
      RESULT_MAX_CHARS + RESULT_SLACK,
    );
    if (v.result.length > RESULT_MAX_CHARS) expect(v.result_truncated, what).toBe(true);
  }
  if (v.error) {
    expect(v.error.name.length, `${what} — error name`).toBeLessThanOrEqual(200);
    expect(v.error.message.length, `${what} — error message`).toBeLessThanOrEqual(16_384);
    expect((v.error.stack ?? '').length, `${what} — error stack`).toBeLessThanOrEqual(65_536);
  }
  expect(v.output_bytes ?? 0, `${what} — output past the cap`).toBeLessThanOrEqual(
    OUTPUT_MAX_BYTES + OUTPUT_SLACK,
  );
  // Deadlines are final, and only a completed cell commits a heap.
  if (v.status !== 'completed') expect(v.heap, `${what} — committed a heap`).toBeUndefined();
}

/** Everything the host must not leak, in a record and its output. */
export function checkNoLeaks(server: HostileServer, v: ExecutionView, output: string, label: string): void {
  const ctx = { serverRoot: server.root, canary: server.canary };
  const texts = {
    result: v.result ?? '',
    'error.name': v.error?.name ?? '',
    'error.message': v.error?.message ?? '',
    'error.stack': v.error?.stack ?? '',
    output,
  };
  for (const [where, text] of Object.entries(texts)) {
    const leaks = hostLeaks(text, ctx);
    expect(leaks, `${label}: host leaked into ${where} (${describeEnd(v)})`).toEqual([]);
  }
}

/** Runs one cell as the hostile client and returns its record and whole output, bounds checked. */
export async function runCell(
  server: HostileServer,
  args: {
    code: string;
    language?: 'javascript' | 'typescript';
    heap?: string;
    session?: string;
    timeoutSecs?: number;
    heapMb?: number;
  },
  label: string,
): Promise<{ view: ExecutionView; output: string }> {
  const timeoutSecs = args.timeoutSecs ?? server.timeoutSecs;
  const view = await execAndWait(
    server,
    {
      code: args.code,
      ...(args.language && { language: args.language }),
      ...(args.timeoutSecs && { execution_timeout_secs: args.timeoutSecs }),
      ...(args.heapMb && { heap_memory_max_mb: args.heapMb }),
      ...(args.heap && { heap: args.heap }),
      ...(args.session && { session: args.session }),
    },
    // Queueing behind other cases is not the case's time; its own run is checked in checkBounds.
    { waitSecs: timeoutSecs + 60 },
  );
  checkBounds(view, timeoutSecs, label);
  const { text } = await readAllOutput(server, view.execution_id);
  checkNoLeaks(server, view, text, label);
  return { view, output: text };
}

let sessionSeq = 0;

/** Runs a case end to end with every check. */
export async function runCellCase(server: HostileServer, victim: Victim, c: CellCase): Promise<void> {
  const watch = watchCase(server);
  try {
    await runCaseChecked(server, victim, c, watch);
  } finally {
    watch.rss.end();
  }
}

async function runCaseChecked(
  server: HostileServer,
  victim: Victim,
  c: CellCase,
  watch: ReturnType<typeof watchCase>,
): Promise<void> {
  const session = c.session || c.base ? `hostile-${++sessionSeq}` : undefined;
  let baseHeap: string | undefined;
  if (c.base !== undefined) {
    const base = (await runCell(server, { code: c.base, session }, `${c.name} (base cell)`)).view;
    expect(base.status, `${c.name}: base cell ${describeEnd(base)}`).toBe('completed');
    baseHeap = base.heap;
  }
  const { view, output } = await runCell(
    server,
    {
      code: c.code,
      language: c.language,
      timeoutSecs: c.limits?.timeoutSecs,
      heapMb: c.limits?.heapMb,
      session,
      heap: baseHeap,
    },
    c.name,
  );
  const ok = c.accept.some((s) => matches(view, output, s));
  expect(ok, `${c.name}: ended ${describeEnd(view)}; accepted: ${describeAccepted(c.accept)}`).toBe(true);
  await c.check?.(view, {
    server,
    output,
    session,
    baseHeap,
    run: async (args) => (await runCell(server, args, `${c.name} (follow-up)`)).view,
  });
  await checkServerAndVictim(server, victim, watch, c.name);
}
