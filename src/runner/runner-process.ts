/**
 * The runner: owns the sandboxes of one process and executes what its parent sends, streaming
 * console records and reporting each outcome. Transport-agnostic: `send` and the message feed
 * are given by the entry point (IPC for local child processes).
 */
import { FailureReason, endedOutcome, failureError, type ExecutionOutcome } from '../core/index.ts';
import { executeCell } from './execute-cell.ts';
import { ParentMessageSchema, type RunMessage, type RunnerMessage } from './protocol.ts';
import { LiveRecorder } from './recorder.ts';
import { loadWasmModules } from './wasm-modules.ts';
import { SandboxPool } from './sandbox/sandbox-pool.ts';
import { ModuleCache } from './modules/module-cache.ts';
import { ModuleSourceLoader } from './modules/module-source-loader.ts';
import { DEFAULT_CDN_BASE, normalizeCdnBase } from './modules/module-specifier.ts';

export interface RunnerOptions {
  defaultHeapMb: number;
  /** Sandboxes kept ready. */
  warmSandboxes: number;
  maxOutputBytes: number;
  maxResultBytes: number;
  maxTimers: number;
  maxWasmPages: number;
  heartbeatIntervalMs: number;
  /** Base URL of `npm:`/`jsr:` imports. */
  cdnBase: string;
  /** Pre-loaded WebAssembly modules: global name → file path (validated by the parent at start-up). */
  wasmModules: Record<string, string>;
}

export const DEFAULT_RUNNER_OPTIONS: RunnerOptions = {
  defaultHeapMb: 8,
  warmSandboxes: 2,
  maxOutputBytes: 1 << 20,
  maxResultBytes: 1 << 20,
  maxTimers: 10_000,
  maxWasmPages: 4096,
  heartbeatIntervalMs: 1000,
  cdnBase: DEFAULT_CDN_BASE,
  wasmModules: {},
};

export class RunnerProcess {
  readonly #opts: RunnerOptions;
  readonly #send: (msg: RunnerMessage) => void;
  readonly #pool: SandboxPool;
  readonly #running = new Map<string, AbortController>();
  readonly #modules: { loader: ModuleSourceLoader; cdnBase: string };
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(
    opts: RunnerOptions,
    send: (msg: RunnerMessage) => void,
    onCatastrophicError: (message: string) => void,
  ) {
    this.#opts = opts;
    this.#send = send;
    this.#pool = new SandboxPool({
      defaultHeapMb: opts.defaultHeapMb,
      size: opts.warmSandboxes,
      maxOutputBytes: opts.maxOutputBytes,
      maxResultBytes: opts.maxResultBytes,
      maxTimers: opts.maxTimers,
      maxWasmPages: opts.maxWasmPages,
      wasmModules: loadWasmModules(Object.entries(opts.wasmModules).map(([name, path]) => ({ name, path }))),
      onCatastrophicError,
    });
    const cdnBase = normalizeCdnBase(opts.cdnBase);
    // One cache per runner process: a module downloaded once serves every later execution.
    this.#modules = { cdnBase, loader: new ModuleSourceLoader({ cdnBase, cache: new ModuleCache() }) };
  }

  async start(): Promise<void> {
    await this.#pool.warm();
    this.#heartbeat = setInterval(() => this.#beat(), this.#opts.heartbeatIntervalMs);
    this.#send({ type: 'ready', pid: process.pid });
    this.#beat();
  }

  /** Handles one message from the parent; invalid messages are ignored (and reported). */
  handle(raw: unknown): void {
    const parsed = ParentMessageSchema.safeParse(raw);
    if (!parsed.success) {
      process.stderr.write(`runner: ignored an invalid message: ${parsed.error.message}\n`);
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'run':
        void this.#run(msg);
        break;
      case 'cancel':
        this.#running.get(msg.executionId)?.abort();
        break;
      case 'shutdown':
        this.stop();
        break;
    }
  }

  stop(): void {
    clearInterval(this.#heartbeat);
    for (const c of this.#running.values()) c.abort();
    this.#pool.close();
  }

  async #run(msg: RunMessage): Promise<void> {
    if (this.#running.has(msg.executionId)) return;
    const abort = new AbortController();
    this.#running.set(msg.executionId, abort);
    const startedAt = Date.now();
    let outcome: ExecutionOutcome;
    const sandbox = await this.#pool.acquire(msg.heapMb).catch((err: unknown) => err as Error);
    try {
      if (sandbox instanceof Error) throw sandbox;
      outcome = await executeCell(
        { code: msg.code, language: msg.language, timeoutMs: msg.timeoutMs },
        {
          sandbox,
          recorder: new LiveRecorder(),
          signal: abort.signal,
          startedAt,
          maxOutputBytes: this.#opts.maxOutputBytes,
          modules: this.#modules,
          onOutput: (level, text) =>
            this.#send({ type: 'output', executionId: msg.executionId, level, text }),
        },
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const oom = /memory/i.test(message);
      const error = oom
        ? failureError(FailureReason.OutOfMemory, 'the execution exceeded its memory limit')
        : failureError(FailureReason.RunnerCrashed, `the runner failed: ${message}`);
      outcome = endedOutcome('failed', error, msg.heapMb, Date.now() - startedAt);
    }
    this.#running.delete(msg.executionId);
    // Report first: disposing an isolate costs milliseconds the caller need not wait for.
    this.#send({ type: 'outcome', executionId: msg.executionId, outcome });
    // Stateless: the sandbox is never reused, so no state reaches the next execution.
    if (!(sandbox instanceof Error)) this.#pool.release(sandbox);
  }

  #beat(): void {
    this.#send({ type: 'heartbeat', rssBytes: process.memoryUsage.rss(), running: this.#running.size });
  }
}
