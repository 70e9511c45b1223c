/**
 * The local RunnerPool: N runner child processes (the same program a runner pod runs), each
 * with an IPC channel. The supervisor replaces a runner that dies, enforces a per-process memory
 * cap by reading its RSS, kills a runner that stops answering or overruns a deadline, and turns
 * every such event into an outcome for the executions it was running — never touching the
 * executions of other runners.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FailureReason,
  type ExecutionOutcome,
  type HeapId,
  type HeapStore,
  type OutputLevel,
  type RunRequest,
  type RunnerPool,
  type RunnerPoolStats,
} from '../core/index.ts';
import {
  cancelledOutcome as cancelled,
  RunnerHeaps,
  failedOutcome as failed,
  timedOutOutcome as timedOut,
} from '../core/heap-commit.ts';
import { RunnerMessageSchema, type ParentMessage } from '../runner/protocol.ts';
import type { RunnerOptions } from '../runner/runner-process.ts';
import { dispatchRun, type PendingRun } from '../core/runner-dispatch.ts';

export interface ChildRunnerPoolOptions {
  /** Number of runner processes. */
  runners: number;
  /** Executions one runner runs at once (1 keeps a crash's blast radius to one execution). */
  concurrencyPerRunner: number;
  /** A runner whose resident memory exceeds this is killed; its executions fail OutOfMemory. */
  maxRunnerRssBytes: number;
  /** A runner silent for this long is considered hung and replaced. */
  heartbeatTimeoutMs: number;
  /** How long past its deadline an execution may take before its runner is killed. */
  deadlineGraceMs: number;
  /** How long a cancelled execution may take to stop before its runner is killed. */
  cancelGraceMs: number;
  /** Environment of runner processes; secrets of the parent are not passed on. */
  env: NodeJS.ProcessEnv;
  runner: Partial<RunnerOptions>;
  /**
   * Where heaps are kept (stateful mode): chains to replay are read from it and the heap of a
   * completed `persist` run is committed to it.
   */
  heaps?: HeapStore;
}

export const DEFAULT_CHILD_RUNNER_POOL_OPTIONS: ChildRunnerPoolOptions = {
  runners: 2,
  concurrencyPerRunner: 1,
  maxRunnerRssBytes: 768 * 1024 * 1024,
  heartbeatTimeoutMs: 10_000,
  deadlineGraceMs: 2000,
  cancelGraceMs: 1000,
  env: {},
  runner: {},
};

const WATCHDOG_INTERVAL_MS = 100;
/** Share of maxRunnerRssBytes above which a runner disposes its live isolates (the rest is one execution's room). */
export const LIVE_HEAP_RSS_SHARE = 0.75;
/** How long a session's next cell waits for the busy runner holding its heap live before replaying elsewhere. */
const HOLDER_WAIT_MS = 1000;
const PAGE_SIZE = 4096;

type Pending = PendingRun;

interface Runner {
  child: ChildProcess;
  pid: number;
  ready: boolean;
  running: Map<string, Pending>;
  lastSeen: number;
  killedFor?: 'memory' | 'hung' | 'deadline' | 'cancel' | 'close';
  stderrTail: string;
}

const ENTRY = fileURLToPath(
  new URL(`../runner/child-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

export class ChildRunnerPool implements RunnerPool {
  readonly #opts: ChildRunnerPoolOptions;
  readonly #runners = new Set<Runner>();
  readonly #waiting: Array<() => void> = [];
  readonly #watchdog: NodeJS.Timeout;
  /** Which runner holds a heap's isolate live (it may have evicted it since; then it replays). */
  readonly #heaps: RunnerHeaps<Runner>;
  #restarts = 0;
  #closed = false;
  #recentExits: number[] = [];

  constructor(opts: Partial<ChildRunnerPoolOptions> = {}) {
    this.#opts = { ...DEFAULT_CHILD_RUNNER_POOL_OPTIONS, ...opts };
    this.#heaps = new RunnerHeaps<Runner>(this.#opts.heaps);
    for (let i = 0; i < this.#opts.runners; i++) this.#spawn();
    this.#watchdog = setInterval(() => this.#watch(), WATCHDOG_INTERVAL_MS);
    this.#watchdog.unref();
  }

  /** Resolves when every runner has reported ready (or `timeoutMs` passed). */
  async whenReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.#runners].some((r) => !r.ready)) {
      if (Date.now() > deadline) throw new Error('runners did not become ready in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  run(
    req: RunRequest,
    onOutput: (level: OutputLevel, text: string) => void,
    signal: AbortSignal,
  ): Promise<ExecutionOutcome> {
    const queuedAt = Date.now();
    return dispatchRun(req, onOutput, signal, {
      freeRunner: () => this.#freeRunner(req.heap, queuedAt),
      ...(req.heap !== undefined && { recheckAfterMs: HOLDER_WAIT_MS }),
      closed: () => this.#closed,
      waiting: this.#waiting,
      sendRun: (r, run) => this.#send(r, { type: 'run', ...run, persist: run.persist ?? false }),
      sendCancel: (r, executionId) => this.#send(r, { type: 'cancel', executionId }),
    });
  }

  stats(): RunnerPoolStats {
    const all = [...this.#runners];
    return {
      runners: all.length,
      ready: all.filter((r) => r.ready).length,
      busy: all.reduce((n, r) => n + r.running.size, 0),
      waiting: this.#waiting.length,
      restarts: this.#restarts,
    };
  }

  /** PID of the runner process running `executionId`, if it is running. */
  pidOf(executionId: string): number | undefined {
    for (const r of this.#runners) if (r.running.has(executionId)) return r.pid;
    return undefined;
  }

  /** PIDs of the live runner processes (for tests and diagnostics). */
  pids(): number[] {
    return [...this.#runners].map((r) => r.pid);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    const exits = [...this.#runners].map(
      (r) =>
        new Promise<void>((resolve) => {
          if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
          r.child.once('exit', () => resolve());
          r.killedFor = 'close';
          r.child.kill('SIGKILL');
        }),
    );
    for (const wake of this.#waiting.splice(0)) wake();
    await Promise.all(exits);
  }

  /**
   * A runner with room: the one holding `heap` live when it has room; none while it is busy (for
   * up to HOLDER_WAIT_MS since `queuedAt`); else the least busy.
   */
  #freeRunner(heap: HeapId | undefined, queuedAt: number): Runner | undefined {
    const holder = this.#heaps.routes.holder(heap);
    if (holder && this.#runners.has(holder) && !holder.killedFor) {
      if (this.#hasRoom(holder)) return holder;
      // Its next cell resumes in the live isolate there once the holder's current cell ends;
      // elsewhere it must replay the whole chain, which costs more the longer the session is.
      if (Date.now() - queuedAt < HOLDER_WAIT_MS) return undefined;
    }
    let best: Runner | undefined;
    for (const r of this.#runners) {
      if (this.#hasRoom(r) && (!best || r.running.size < best.running.size)) best = r;
    }
    return best;
  }

  #hasRoom(r: Runner): boolean {
    return r.ready && !r.killedFor && r.running.size < this.#opts.concurrencyPerRunner;
  }

  #spawn(): void {
    const runnerOpts = this.#opts.runner;
    const pages = runnerOpts.maxWasmPages ?? 4096;
    const child = fork(ENTRY, [], {
      execArgv: ['--no-node-snapshot', `--wasm-max-mem-pages=${pages}`],
      env: this.#opts.env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const runner: Runner = {
      child,
      pid: child.pid ?? -1,
      ready: false,
      running: new Map(),
      lastSeen: Date.now(),
      stderrTail: '',
    };
    this.#runners.add(runner);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      runner.stderrTail = (runner.stderrTail + chunk).slice(-4096);
    });
    child.on('message', (raw) => this.#onMessage(runner, raw));
    // Options travel over IPC: they may hold secrets, and a command line is readable by anyone.
    child.send({
      type: 'configure',
      // The runner gives up live isolates before its RSS nears the line this supervisor kills at.
      options: {
        liveHeapRssBytes: Math.floor(this.#opts.maxRunnerRssBytes * LIVE_HEAP_RSS_SHARE),
        ...runnerOpts,
      },
    });
    child.on('error', () => {
      // 'exit' follows and handles the runner's executions.
    });
    child.once('exit', (code, sig) => this.#onExit(runner, code, sig));
  }

  #onMessage(runner: Runner, raw: unknown): void {
    runner.lastSeen = Date.now();
    const parsed = RunnerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      // A runner that speaks nonsense may be compromised: stop trusting it.
      runner.killedFor ??= 'hung';
      runner.child.kill('SIGKILL');
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'ready':
        runner.ready = true;
        this.#wakeAll();
        break;
      case 'output':
        runner.running.get(msg.executionId)?.onOutput(msg.level, msg.text);
        break;
      case 'outcome': {
        const pending = runner.running.get(msg.executionId);
        if (!pending) break;
        runner.running.delete(msg.executionId);
        if (msg.outcome.heap === undefined) pending.resolve(msg.outcome);
        else void this.#heaps.commit(runner, pending.req, msg.outcome, msg.heapNode).then(pending.resolve);
        this.#wakeAll();
        break;
      }
      case 'chain-request':
        void this.#answerChainRequest(runner, msg.executionId, msg.heap);
        break;
      case 'heartbeat':
        break;
    }
  }

  /** Sends a runner the chain of `heap` for an execution it runs (or why there is none). */
  async #answerChainRequest(runner: Runner, executionId: string, heap: HeapId): Promise<void> {
    const answer = await this.#heaps.chainAnswer(runner, executionId, heap);
    if (answer) this.#send(runner, { type: 'chain', executionId, ...answer });
  }

  #onExit(runner: Runner, code: number | null, signal: NodeJS.Signals | null): void {
    this.#runners.delete(runner);
    this.#heaps.routes.forget(runner);
    const oomInLog = /out of memory|heap limit|allocation failed|memory limit/i.test(runner.stderrTail);
    for (const pending of runner.running.values()) {
      const { req } = pending;
      if (pending.cancelledAt !== undefined) pending.resolve(cancelled(req, pending.startedAt));
      else if (runner.killedFor === 'memory' || oomInLog) {
        pending.resolve(
          failed(
            req,
            pending.startedAt,
            FailureReason.OutOfMemory,
            'the execution exceeded the runner memory limit',
          ),
        );
      } else if (runner.killedFor === 'deadline') {
        pending.resolve(timedOut(req, pending.startedAt));
      } else {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        pending.resolve(
          failed(req, pending.startedAt, FailureReason.RunnerCrashed, `the runner process died (${how})`),
        );
      }
    }
    runner.running.clear();
    if (this.#closed) return;
    this.#restarts++;
    // Back off when runners die in a loop (e.g. a broken installation), instead of spinning.
    const now = Date.now();
    this.#recentExits = [...this.#recentExits.filter((t) => now - t < 10_000), now];
    const delay = this.#recentExits.length > 5 ? 1000 : 0;
    setTimeout(() => {
      if (!this.#closed) this.#spawn();
    }, delay).unref();
    this.#wakeAll();
  }

  #watch(): void {
    const now = Date.now();
    for (const r of this.#runners) {
      if (r.killedFor) continue;
      const rss = readRss(r.pid);
      if (rss > this.#opts.maxRunnerRssBytes) this.#kill(r, 'memory');
      else if (now - r.lastSeen > this.#opts.heartbeatTimeoutMs) this.#kill(r, 'hung');
      else {
        for (const p of r.running.values()) {
          if (p.cancelledAt !== undefined && now - p.cancelledAt > this.#opts.cancelGraceMs)
            this.#kill(r, 'cancel');
          else if (now - p.startedAt > p.req.timeoutMs + this.#opts.deadlineGraceMs)
            this.#kill(r, 'deadline');
        }
      }
    }
  }

  #kill(r: Runner, why: NonNullable<Runner['killedFor']>): void {
    r.killedFor ??= why;
    r.child.kill('SIGKILL');
  }

  #send(r: Runner, msg: ParentMessage): void {
    if (r.child.connected) r.child.send(msg);
  }

  /**
   * Wakes every waiting call to look again (in FIFO order): one that waits for a particular
   * runner must not swallow a wake-up another could use. Waiters are few (at most the
   * scheduler's concurrency).
   */
  #wakeAll(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }
}

/** Resident set size of a process from /proc (0 when it is gone). */
function readRss(pid: number): number {
  try {
    const resident = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return resident * PAGE_SIZE;
  } catch {
    return 0;
  }
}
