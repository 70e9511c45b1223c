/**
 * The runner: owns the sandboxes of one process and executes the runs it is handed, streaming
 * console records and reporting each outcome. Where it runs is its host's business (see
 * runner-host.ts): the same runner serves a local supervisor over IPC and a pod over NATS.
 */
import {
  FailureReason,
  Mcpv8Error,
  cancelledError,
  effectiveHeapMb,
  encodeHeapNode,
  endedOutcome,
  ExecutionOutcomeSchema,
  failureError,
  OutputBuffer,
  RESULT_MAX_BYTES,
  timedOutError,
  type ExecutionOutcome,
  type HeapId,
  type HeapNode,
  type ResolvedPolicies,
  urlPolicyInput,
} from '../core/index.ts';
import type { ChainAnswer } from '../core/heap-commit.ts';
import { buildCapabilities, executionHostCalls } from './host/capabilities.ts';
import type { HostCapability } from './host/host-capability.ts';
import { DEFAULT_FILESYSTEM_OPTIONS, type FilesystemOptions } from './host/fs-capability.ts';
import type { FetchOptions } from './host/fetch-capability.ts';
import { createPolicyEngine } from './policy/policy-engine.ts';
import { executeCell } from './execute-cell.ts';
import { replayChain, sortModules } from './heap-replay.ts';
import { LiveHeapCache } from './live-heap-cache.ts';
import { RunningMemoryGuard } from './running-memory-guard.ts';
import type { RunMessage } from './protocol.ts';
import type { RunnerHost } from './runner-host.ts';
import { DEFAULT_JOURNAL_LIMITS, LiveRecorder, type JournalLimits } from './recorder.ts';
import type { Sandbox } from './sandbox/sandbox.ts';
import { loadWasmModules } from './wasm-modules.ts';
import { DEFAULT_CELLS_PER_ISOLATE, DEFAULT_MAX_IDLE_ISOLATES, SandboxPool } from './sandbox/sandbox-pool.ts';
import { ModuleCache } from './modules/module-cache.ts';
import { ModuleSourceLoader } from './modules/module-source-loader.ts';
import { DEFAULT_CDN_BASE, normalizeCdnBase } from './modules/module-specifier.ts';
import type { RunnerEgress } from './host/egress.ts';
import { EgressClient } from '../cluster/egress-client.ts';

export interface RunnerOptions {
  defaultHeapMb: number;
  /** Sandboxes kept ready. */
  warmSandboxes: number;
  /**
   * Stateless cells one isolate serves, each in a fresh context, before it is replaced (1: a new
   * isolate per cell). Never across tenants: see SandboxPool.
   */
  cellsPerIsolate: number;
  maxOutputBytes: number;
  maxResultBytes: number;
  maxTimers: number;
  maxWasmPages: number;
  heartbeatIntervalMs: number;
  /** Base URL of `npm:`/`jsr:` imports. */
  cdnBase: string;
  /** Pre-loaded WebAssembly modules: global name → file path (validated by the parent at start-up). */
  wasmModules: Record<string, string>;
  /** Isolates kept live per runner for the next cell of their session (0: always replay). */
  liveHeaps: number;
  /**
   * Memory the live isolates of one runner may hold together, bytes: V8 heap committed,
   * ArrayBuffers, WebAssembly memories and resizable buffers (see LiveHeapCache).
   */
  liveHeapBytes: number;
  /** A live isolate unused this long is disposed. */
  liveHeapIdleMs: number;
  /**
   * Resident size of the runner process above which live isolates are disposed, least recently
   * used first, before a cell starts and while cells run (memory no count sees), then the
   * running cell that fills memory is stopped (RunningMemoryGuard); 0: no guard. Keep it below
   * the hard line (the supervisor's kill line; a pod's memory limit) with room for one execution.
   * Heartbeats report it: a cluster pool recycles a pod that stays above it.
   */
  liveHeapRssBytes: number;
  /** Bounds on what one stateful cell may record. */
  journal: JournalLimits;
  /** Policy sources per category (fetch, filesystem, modules); a category absent is not offered. */
  policies: ResolvedPolicies;
  /** Bounds and root directories of the `fs` capability (offered with a filesystem policy). */
  filesystem: FilesystemOptions;
  /** Limits and header injection rules of `fetch` (offered with a fetch policy); rules are secrets. */
  fetch: FetchOptions;
  /**
   * Runs a runner pod admits over its life (its pool's `executionsPerPod`); it refuses any beyond.
   * 0: no bound (a local runner is recycled by its supervisor instead).
   */
  runsPerPod: number;
  /**
   * Cluster: base URL of the egress broker, which performs fetch() and module downloads (header
   * rules live there, never here). Absent: the runner performs them itself.
   */
  egressUrl?: string;
}

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = {
  defaultHeapMb: 8,
  warmSandboxes: 2,
  cellsPerIsolate: DEFAULT_CELLS_PER_ISOLATE,
  maxOutputBytes: 1 << 20,
  maxResultBytes: RESULT_MAX_BYTES,
  maxTimers: 10_000,
  maxWasmPages: 4096,
  heartbeatIntervalMs: 1000,
  cdnBase: DEFAULT_CDN_BASE,
  wasmModules: {},
  liveHeaps: 8,
  liveHeapBytes: 256 * 1024 * 1024,
  liveHeapIdleMs: 15 * 60_000,
  liveHeapRssBytes: 0,
  journal: DEFAULT_JOURNAL_LIMITS,
  policies: {},
  filesystem: DEFAULT_FILESYSTEM_OPTIONS,
  fetch: {},
  runsPerPod: 0,
};

/** `R`: the run messages its host hands it (a pod's carry their Execution). */
export class RunnerProcess<R extends RunMessage = RunMessage> {
  readonly #opts: RunnerOptions;
  readonly #host: RunnerHost<R>;
  readonly #pool: SandboxPool;
  readonly #running = new Map<string, AbortController>();
  readonly #modules: { loader: ModuleSourceLoader; cdnBase: string };
  readonly #live: LiveHeapCache;
  readonly #memoryGuard: RunningMemoryGuard;
  readonly #capabilities: readonly HostCapability[];
  readonly #egress: RunnerEgress | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(opts: RunnerOptions, host: RunnerHost<R>, onCatastrophicError: (message: string) => void) {
    this.#opts = opts;
    this.#host = host;
    const policy = createPolicyEngine(opts.policies);
    this.#egress = opts.egressUrl === undefined ? undefined : new EgressClient(opts.egressUrl);
    this.#capabilities = buildCapabilities(opts, policy, this.#egress);
    this.#pool = new SandboxPool({
      defaultHeapMb: opts.defaultHeapMb,
      size: opts.warmSandboxes,
      cellsPerIsolate: opts.cellsPerIsolate,
      maxIdleIsolates: DEFAULT_MAX_IDLE_ISOLATES,
      maxOutputBytes: opts.maxOutputBytes,
      maxResultBytes: opts.maxResultBytes,
      maxTimers: opts.maxTimers,
      maxWasmPages: opts.maxWasmPages,
      capabilities: this.#capabilities.map((c) => c.name),
      wasmModules: loadWasmModules(Object.entries(opts.wasmModules).map(([name, path]) => ({ name, path }))),
      onCatastrophicError,
    });
    const cdnBase = normalizeCdnBase(opts.cdnBase);
    // One cache per runner process: a module downloaded once serves every later execution.
    // With a modules policy, every download (and every redirect hop) is authorized first.
    const authorize = policy?.has('modules')
      ? (url: URL, signal: AbortSignal) =>
          policy.authorize('modules', urlPolicyInput('import', url, 'GET', {}), signal)
      : undefined;
    this.#modules = {
      cdnBase,
      loader: new ModuleSourceLoader({
        cdnBase,
        cache: new ModuleCache(),
        ...(authorize && { authorize }),
        ...(this.#egress && { fetch: this.#egress.moduleFetch }),
      }),
    };
    this.#live = new LiveHeapCache({
      maxEntries: opts.liveHeaps,
      maxBytes: opts.liveHeapBytes,
      idleMs: opts.liveHeapIdleMs,
      maxRssBytes: opts.liveHeapRssBytes,
      rss: () => host.residentBytes(),
    });
    this.#memoryGuard = new RunningMemoryGuard({
      maxRssBytes: opts.liveHeapRssBytes,
      relieve: () => this.#live.relieve(),
      rss: () => host.residentBytes(),
    });
  }

  async start(): Promise<void> {
    await this.#pool.warm();
    this.#heartbeat = setInterval(() => this.#beat(), this.#opts.heartbeatIntervalMs);
    this.#host.ready(process.pid);
    this.#beat();
  }

  /** Stops run `executionId` if it runs here (it ends cancelled). */
  cancel(executionId: string): void {
    this.#running.get(executionId)?.abort();
  }

  /** Stops heartbeats and every cell; the runner serves nothing more. */
  stop(): void {
    clearInterval(this.#heartbeat);
    for (const c of this.#running.values()) c.abort();
    this.#pool.close();
    this.#live.close();
    this.#memoryGuard.close();
  }

  /**
   * Runs `msg` and reports its outcome to the host; resolves once reported. A run whose id is
   * already running is ignored (its outcome will be reported once).
   */
  async run(msg: R): Promise<void> {
    if (this.#running.has(msg.executionId)) return;
    const abort = new AbortController();
    this.#running.set(msg.executionId, abort);
    const leaveEgress = this.#egress?.enter(msg.executionId, msg.egressToken);
    const startedAt = Date.now();
    // Room for this cell first: idle sessions give way (they can replay) before it is harmed.
    this.#live.relieve();
    // Console output goes to the host in batches (a write per few hundred lines or 20 ms),
    // however finely the cell prints.
    const output = new OutputBuffer(
      { append: (_id, lines) => this.#host.output(msg, lines) },
      msg.executionId,
    );
    let outcome: ExecutionOutcome;
    let sandbox: Sandbox | undefined;
    let heapNode: HeapNode | undefined;
    let guarded: Sandbox | undefined;
    try {
      const resumed = await this.#resume(msg, abort.signal, startedAt);
      if ('outcome' in resumed) outcome = resumed.outcome;
      else {
        sandbox = resumed.sandbox;
        guarded = sandbox;
        this.#memoryGuard.begin(sandbox);
        const recorder = new LiveRecorder(undefined, undefined, this.#opts.journal);
        outcome = await executeCell(
          { code: msg.code, language: msg.language, timeoutMs: msg.timeoutMs },
          {
            sandbox,
            recorder,
            signal: abort.signal,
            startedAt,
            maxOutputBytes: this.#opts.maxOutputBytes,
            modules: this.#modules,
            hostCall: executionHostCalls(this.#capabilities, {
              executionId: msg.executionId,
              deadline: startedAt + msg.timeoutMs,
            }),
            onOutput: (level, text) => output.push(level, text),
          },
        );
        if (msg.persist && outcome.status === 'completed') {
          const committed = this.#commit(msg, sandbox, recorder, outcome);
          outcome = committed.outcome;
          heapNode = committed.heapNode;
          if (heapNode) sandbox = undefined; // now owned by the live cache
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // The guard may stop a cell anywhere, its transform included: that is memory, not a crash.
      const oom =
        /memory/i.test(message) || (guarded !== undefined && this.#memoryGuard.stoppedCell(guarded));
      // The runner's own failure: its message and stack may name host paths, so they go to the
      // runner's log, and the outcome says only what happened.
      if (!oom)
        process.stderr.write(`runner: execution ${msg.executionId} failed in the host: ${String(err)}\n`);
      const error = oom
        ? failureError(FailureReason.OutOfMemory, 'the execution exceeded its memory limit')
        : failureError(FailureReason.RunnerCrashed, 'the runner failed while running the execution');
      outcome = endedOutcome('failed', error, msg.heapMb, Date.now() - startedAt);
    }
    if (guarded) this.#memoryGuard.end(guarded);
    await output.flush();
    this.#running.delete(msg.executionId);
    leaveEgress?.();
    // The parent drops a runner whose messages break the protocol; an outcome that would (a bug,
    // never the cell: every field is bounded on its way out) fails its execution instead.
    if (!ExecutionOutcomeSchema.safeParse(outcome).success) {
      process.stderr.write(`runner: execution ${msg.executionId} produced an invalid outcome\n`);
      outcome = endedOutcome(
        'failed',
        failureError(FailureReason.Error, 'the execution ended with an outcome that could not be reported'),
        msg.heapMb,
        Date.now() - startedAt,
      );
      heapNode = undefined;
    }
    // Report first: disposing an isolate costs milliseconds the caller need not wait for.
    this.#host.outcome(msg, outcome, heapNode);
    // A sandbox not kept live is never reused: no state reaches another execution.
    if (sandbox) this.#pool.release(sandbox);
    else this.#pool.refill();
  }

  /**
   * The sandbox the cell runs in: a fresh one, the live isolate holding `msg.heap`, or a fresh one
   * into which the heap's chain was replayed. Or the outcome when the heap cannot be had.
   */
  async #resume(
    msg: R,
    signal: AbortSignal,
    startedAt: number,
  ): Promise<{ sandbox: Sandbox } | { outcome: ExecutionOutcome }> {
    /** The outcome of a resume that did not happen; `failed` is a HeapError with `message`. */
    const ended = (status: 'failed' | 'cancelled' | 'timed_out', message = '') => {
      const error =
        status === 'cancelled'
          ? cancelledError()
          : status === 'timed_out'
            ? timedOutError(msg.timeoutMs)
            : failureError(FailureReason.HeapError, message);
      return { outcome: endedOutcome(status, error, msg.heapMb, Date.now() - startedAt) };
    };
    if (!msg.heap) {
      // A session's first cell starts the isolate that will hold its heap; a stateless cell
      // only needs a fresh context (in an isolate its tenant's earlier cells may have used).
      const sandbox = msg.persist
        ? await this.#pool.acquire(msg.heapMb)
        : await this.#pool.acquireStateless(msg.heapMb, msg.execution?.namespace ?? '');
      return { sandbox };
    }
    const live = this.#live.take(msg.heap, effectiveHeapMb(msg.heapMb));
    if (live) return { sandbox: live };
    const answer = await this.#chain(msg, msg.heap, signal);
    if (!answer) return ended('cancelled');
    if ('error' in answer) return ended('failed', `${answer.error.message} (${answer.error.code})`);
    const sandbox = await this.#pool.acquire(msg.heapMb);
    const failure = await replayChain(sandbox, answer.chain, {
      signal,
      deadline: startedAt + msg.timeoutMs,
      modules: this.#modules,
    });
    if (!failure) return { sandbox };
    this.#pool.release(sandbox);
    if (failure.kind !== 'failed') return ended(failure.kind);
    return ended('failed', failure.error.message);
  }

  /** The host's answer for the chain of `heap`, or undefined once `signal` aborts first. */
  #chain(msg: R, heap: HeapId, signal: AbortSignal): Promise<ChainAnswer | undefined> {
    return new Promise((resolve) => {
      const onAbort = () => resolve(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      void this.#host
        .chain(msg, heap)
        .catch((err: unknown) => ({ error: { code: 'MCPV8_ERR_SERVER_INTERNAL', message: String(err) } }))
        .then((answer) => {
          signal.removeEventListener('abort', onAbort);
          resolve(signal.aborted ? undefined : answer);
        });
    });
  }

  /**
   * Turns a completed cell into its heap: the journal node (parent, cell, what it observed, the
   * modules it loaded) and its id; the sandbox stays live under that id.
   */
  #commit(
    msg: R,
    sandbox: Sandbox,
    recorder: LiveRecorder,
    outcome: ExecutionOutcome,
  ): { outcome: ExecutionOutcome; heapNode?: HeapNode } {
    const modules = sortModules(sandbox.drainLoadedModules());
    if (recorder.overflowed) {
      const { journal } = this.#opts;
      const error = new Mcpv8Error('MCPV8_ERR_HEAP_JOURNAL_TOO_LARGE', [
        `${journal.maxEntries} entries, ${journal.maxChars} characters of host results`,
      ]);
      const { result: _r, resultType: _t, resultTruncated: _x, ...rest } = outcome;
      return {
        outcome: { ...rest, status: 'failed', error: failureError(FailureReason.HeapError, error.message) },
      };
    }
    const heapNode: HeapNode = {
      format: 1,
      parent: msg.heap ?? null,
      cell: { code: msg.code, language: msg.language },
      journal: recorder.entries,
      modules,
    };
    const { id } = encodeHeapNode(heapNode);
    this.#live.put(id, sandbox);
    return { outcome: { ...outcome, heap: id }, heapNode };
  }

  #beat(): void {
    this.#host.heartbeat({
      rssBytes: this.#host.residentBytes(),
      running: this.#running.size,
      rssBudgetBytes: this.#opts.liveHeapRssBytes,
    });
  }
}
