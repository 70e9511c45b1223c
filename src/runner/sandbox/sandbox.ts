/**
 * One context with the prelude installed, in an isolate of its own (a session's) or one that
 * stateless cells of a tenant take turns in (see SandboxIsolate, SandboxPool): the unit a cell
 * runs in. A sandbox is created ahead of need, bound to one execution at a time, and disposed or
 * retired when its state must not outlive the execution.
 *
 * Limits are enforced from the host: a wall-clock deadline and cancellation dispose the isolate
 * (which also stops code that resumed after awaiting a host promise, where isolated-vm's own
 * `timeout` does not reach); the heap cap is isolated-vm's memoryLimit.
 */
import ivm from 'isolated-vm';
import type { OutputLevel } from '../../core/index.ts';
import type { InspectorOptions } from './inspector.ts';
import type { PreludeApi, PreludeOptions } from './prelude.ts';
import { CONNECT_GLOBAL } from './prelude-snapshot.ts';
import { SandboxIsolate } from './sandbox-isolate.ts';
import {
  isolateError,
  readReport,
  type CellError,
  type CellRunOptions,
  type CellRunResult,
  type CellSettlement,
} from './cell-run.ts';
import { IsolateModuleLinker } from '../modules/isolate-module-linker.ts';
import type { ModuleSourceLoader } from '../modules/module-source-loader.ts';
import { wasmInstallSource } from '../wasm-modules.ts';
import { toSandboxError } from './sandbox-error.ts';

const LEVELS: ReadonlySet<string> = new Set(['log', 'info', 'warn', 'error', 'debug']);
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const MAX_HOST_PAYLOAD_CHARS = 1 << 20;
/** How long the drain of a stopped cell's buffered console output may run. */
const DRAIN_TIMEOUT_MS = 50;
/**
 * How long a stopped cell may keep the host waiting to drain: a cell spinning inside an entry
 * stops when the entry's own timeout fires, which on a loaded machine lags the deadline.
 */
const DRAIN_WAIT_MS = 500;
/** isolated-vm's message when an entry's `timeout` ended it (the isolate stays usable). */
const ENTRY_TIMED_OUT = 'Script execution timed out.';
/** An entry that timed out this close to the deadline is the deadline (isolated-vm's own clock). */
const DEADLINE_SLACK_MS = 50;

export interface SandboxOptions {
  /** Requested heap cap in MiB; raised to 8 when lower (see `effectiveHeapMb`). */
  heapMb: number;
  maxOutputBytes: number;
  maxResultBytes: number;
  maxTimers: number;
  maxWasmPages: number;
  inspector?: InspectorOptions;
  /** Host capabilities whose globals the prelude installs (`fetch`, `fs`). */
  capabilities?: readonly string[];
  /** Pre-loaded WebAssembly modules (name → bytes), compiled into every sandbox. */
  wasmModules?: ReadonlyMap<string, Uint8Array>;
  /** Called when V8 loses control of the isolate; the process must not go on serving. */
  onCatastrophicError?: (message: string) => void;
}

interface Binding {
  run: CellRunOptions;
  /** Pending timers of the cell, by id, with how to cancel each. */
  timers: Map<number, () => void>;
  /** Host calls and timer callbacks under way. */
  inflight: number;
  /** How the cell's promise settled, once the prelude reported it. */
  settled?: CellSettlement;
  /** The first error the cell left uncaught: it fails the cell at once. */
  uncaught?: CellError;
  /** Why the host stopped the cell; once set, nothing the cell did afterwards counts. */
  stopped?: 'timed_out' | 'cancelled';
  /** The stop's drain and disposal, awaited before the run reports. */
  stopping?: Promise<void>;
  /** Re-checks whether the cell has ended (set while run() waits). */
  wake?: () => void;
  abort: AbortController;
}

export class Sandbox {
  readonly effectiveHeapMb: number;
  readonly #host: SandboxIsolate;
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  /** The prelude's API (a PreludeApi); its functions are looked up on first use. */
  readonly #api: ivm.Reference<Record<string, unknown>>;
  readonly #apiRefs = new Map<keyof PreludeApi, ivm.Reference<(...args: never[]) => unknown>>();
  #linker: IsolateModuleLinker | undefined;
  #expectedModules: ReadonlyMap<string, string> | undefined;
  #binding: Binding | undefined;
  #used = false;
  #retired = false;
  readonly #maxResultBytes: number;
  readonly #maxTimers: number;

  private constructor(
    host: SandboxIsolate,
    context: ivm.Context,
    api: ivm.Reference<Record<string, unknown>>,
    maxResultBytes: number,
    maxTimers: number,
  ) {
    this.#maxResultBytes = maxResultBytes;
    this.#maxTimers = maxTimers;
    this.#host = host;
    this.#isolate = host.isolate;
    this.#context = context;
    this.effectiveHeapMb = host.effectiveHeapMb;
    this.#api = api;
  }

  /**
   * A reference to one function of the prelude's API, fetched on first use: most stateless cells
   * need none of them, and each fetch is a round trip into the isolate.
   */
  #apiRef<K extends keyof PreludeApi>(name: K): ivm.Reference<PreludeApi[K]> {
    let ref = this.#apiRefs.get(name);
    if (!ref) {
      ref = this.#api.getSync(name, { reference: true }) as ivm.Reference<(...args: never[]) => unknown>;
      this.#apiRefs.set(name, ref);
    }
    return ref as unknown as ivm.Reference<PreludeApi[K]>;
  }

  /** A sandbox in an isolate of its own (≈ 3 ms; do it ahead of need). */
  static async create(opts: SandboxOptions): Promise<Sandbox> {
    const host = new SandboxIsolate({
      heapMb: opts.heapMb,
      prelude: preludeOptions(opts),
      onCatastrophicError: opts.onCatastrophicError,
    });
    try {
      return await Sandbox.open(host, opts);
    } catch (err) {
      host.dispose();
      throw err;
    }
  }

  /**
   * A sandbox in a new context of `host` (≈ 1 ms: the prelude comes from the snapshot). Its
   * callbacks answer only while it is bound to a cell, so code a retired context left behind
   * (a pending finalizer, say) can neither print into nor call the host for a later cell.
   */
  static async open(host: SandboxIsolate, opts: Omit<SandboxOptions, 'heapMb'>): Promise<Sandbox> {
    const context = await host.isolate.createContext();
    let sandbox: Sandbox | undefined;
    const bound = () => (sandbox ? sandbox.#binding : undefined);
    try {
      // Synchronous callbacks throughout: an asynchronous one queues a task per call inside
      // isolated-vm, and a cell calling it in a loop would pile them up without bound.
      const emit = new ivm.Callback((level: unknown, text: unknown) => {
        const b = bound();
        if (b && typeof level === 'string' && LEVELS.has(level) && typeof text === 'string') {
          b.run.onOutput(level as OutputLevel, text);
        }
      });
      const report = new ivm.Callback((kind: unknown, a: unknown, b: unknown, c: unknown) => {
        if (sandbox) sandbox.#report(kind, a, b, c);
      });
      const now = new ivm.Callback(() => bound()?.run.recorder.now() ?? Date.now());
      const seed = new ivm.Callback(() => bound()?.run.recorder.randomSeed() ?? 1);
      const timer = new ivm.Callback((op: unknown, id: unknown, delay: unknown) => {
        if (sandbox) sandbox.#timer(op, id, delay);
      });
      const hostCall = new ivm.Reference(async (op: unknown, payload: unknown) => {
        const b = bound();
        if (!b) throw new Error('no execution is bound to this sandbox');
        return sandbox!.#hostCall(b, op, payload);
      });
      const connect = context.global.getSync(CONNECT_GLOBAL, { reference: true }) as ivm.Reference<
        (...args: unknown[]) => unknown
      >;
      const api = connect.applySync(undefined, [emit, report, now, seed, timer, hostCall], {
        result: { reference: true },
      }) as ivm.Reference<Record<string, unknown>>;
      connect.release();
      if (opts.wasmModules && opts.wasmModules.size > 0) {
        const names = [...opts.wasmModules.keys()];
        // Bytes cross as copies that become plain ArrayBuffers inside; no ExternalCopy is left reachable.
        const buffers = names.map((n) => {
          const b = opts.wasmModules!.get(n)!;
          return new ivm.ExternalCopy(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)).copyInto({
            release: true,
          });
        });
        await context.evalClosure(wasmInstallSource(names.length), [JSON.stringify(names), ...buffers], {
          filename: 'mcpv8:wasm',
        });
      }
      sandbox = new Sandbox(host, context, api, opts.maxResultBytes, opts.maxTimers);
      return sandbox;
    } catch (err) {
      context.release();
      throw err;
    }
  }

  /**
   * The module linker of this sandbox's context (one module map per context), created on first
   * use with the given loader.
   */
  moduleLinker(loader: ModuleSourceLoader, cdnBase: string): IsolateModuleLinker {
    this.#linker ??= new IsolateModuleLinker({
      isolate: this.#isolate,
      context: this.#context,
      loader,
      cdnBase,
      register: this.#apiRef('registerNamespace'),
    });
    this.#linker.expect(this.#expectedModules);
    return this.#linker;
  }

  /**
   * Replay: the modules (URL → source SHA-256) the next cell may load; undefined for a live cell.
   * Applies once this sandbox imports through {@link moduleLinker}.
   */
  expectModules(modules: ReadonlyMap<string, string> | undefined): void {
    this.#expectedModules = modules;
    this.#linker?.expect(modules);
  }

  /** Modules this sandbox loaded since the last call (url + source SHA-256, in load order). */
  drainLoadedModules(): Array<{ url: string; sha256: string }> {
    return this.#linker?.drainLoaded() ?? [];
  }

  /** True once the sandbox can run nothing more: retired, or its isolate disposed. */
  get disposed(): boolean {
    return this.#retired || this.#host.disposed;
  }

  /** The isolate this sandbox's context lives in. */
  get host(): SandboxIsolate {
    return this.#host;
  }

  /**
   * Bytes of WebAssembly memories and resizable buffers this context holds, which neither the
   * heap cap nor the heap statistics see (wasm-prelude.ts). Only for an idle sandbox.
   * @throws when the isolate is disposed or does not answer within 100 ms.
   */
  offHeapBytes(): number {
    const bytes = this.#apiRef('offHeapBytes').applySync(undefined, [], { timeout: 100 });
    return typeof bytes === 'number' && Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
  }

  /** Disposes the isolate, and with it this sandbox and any other context in it. */
  dispose(): void {
    this.#retired = true;
    this.#host.dispose();
  }

  /**
   * Releases this sandbox's context and leaves the isolate alive for another sandbox. Only for an
   * idle sandbox: what a running cell may still do is stopped by {@link dispose} alone.
   */
  retire(): void {
    if (this.#binding) throw new Error('sandbox is running a cell');
    if (this.#retired) return;
    this.#retired = true;
    // Host handles keep what they point at alive: drop them all so the context can be collected.
    this.#linker?.release();
    for (const ref of this.#apiRefs.values()) ref.release();
    this.#api.release();
    if (!this.#host.disposed) this.#context.release();
  }

  /**
   * Runs one cell to its end: the cell's promise settled and no timer or host call pending, an
   * uncaught error, the deadline, or cancellation. Never throws for anything the cell does; the
   * sandbox is disposed after a timeout, cancellation or OOM and must not be reused then.
   *
   * How the cell ended is decided here, from what the host itself observed: the prelude's report
   * (checked), errors isolated-vm raises, and the host's own clock. Once the deadline has passed
   * the cell can only have timed out (or been cancelled), whatever it reports.
   */
  async run(opts: CellRunOptions): Promise<CellRunResult> {
    if (this.#binding) throw new Error('sandbox is already running a cell');
    if (this.disposed) throw new Error('sandbox is disposed');
    // Fetched now, while the isolate is idle: a synchronous fetch while a cell spins would block.
    for (const name of ['watch', 'drain', 'fire', 'beginCell'] as const) this.#apiRef(name);
    const binding: Binding = { run: opts, timers: new Map(), inflight: 0, abort: new AbortController() };
    this.#binding = binding;
    const resumed = this.#used;
    this.#used = true;
    this.#host.cellsRun++;
    const deadlineTimer = setTimeout(
      () => this.#stop(binding, 'timed_out'),
      Math.max(0, opts.deadline - Date.now()),
    );
    const onAbort = () => this.#stop(binding, 'cancelled');
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const syntaxError = await this.#runCell(binding, resumed);
      if (!binding.stopped && Date.now() >= opts.deadline) this.#stop(binding, 'timed_out');
      await binding.stopping;
      if (binding.stopped) return { kind: binding.stopped };
      if (this.#host.disposed) return { kind: 'out_of_memory', message: 'isolate memory limit' };
      if (syntaxError) return { kind: 'syntax_error', error: syntaxError };
      if (binding.uncaught) return { kind: 'threw', error: binding.uncaught };
      const settled = binding.settled;
      if (!settled) throw new Error('cell ended without a report');
      return settled.kind === 'error'
        ? { kind: 'threw', error: settled.error }
        : {
            kind: 'completed',
            ...(settled.result !== undefined && { result: settled.result }),
            resultType: settled.resultType,
            resultTruncated: settled.resultTruncated,
          };
    } finally {
      clearTimeout(deadlineTimer);
      opts.signal.removeEventListener('abort', onAbort);
      for (const cancel of binding.timers.values()) cancel();
      // Host calls the cell left running stop: their answers could only reach a later cell.
      binding.abort.abort();
      this.#binding = undefined;
    }
  }

  /**
   * Compiles and starts the cell, hands its promise to the prelude to follow, and waits for the
   * end. Returns the cell's syntax error, if it has one; every other ending is left on `b`.
   */
  async #runCell(b: Binding, resumed: boolean): Promise<CellError | undefined> {
    // Every entry into the isolate carries the time left, so a cell spinning inside one is stopped
    // there with the isolate intact and its buffered output can still be drained.
    const left = () => ({ timeout: Math.max(1, b.run.deadline - Date.now()) });
    try {
      // A session's next cell: the previous cell's output budget and uncaught error are not its own.
      if (resumed) await this.#apiRef('beginCell').apply(undefined, [], left());
      let script: ivm.Script;
      try {
        script = await this.#isolate.compileScript(b.run.code, { filename: b.run.filename });
      } catch (err) {
        if (b.stopped || this.#host.disposed) return undefined;
        return isolateError(err);
      }
      // The script evaluates to the cell's async function; the prelude calls it and follows its
      // promise, with nothing of the cell running before that.
      let cell: ivm.Reference<unknown>;
      try {
        cell = await script.run(this.#context, { reference: true, ...left() });
      } finally {
        script.release();
      }
      try {
        await this.#apiRef('watch').apply(undefined, [cell.derefInto()], left());
      } finally {
        cell.release();
      }
      await this.#ended(b);
    } catch (err) {
      this.#entryFailed(b, err);
    }
    return undefined;
  }

  /**
   * An entry into the isolate failed. Unless the host stopped the cell or the isolate is gone
   * (memory limit), isolated-vm raised the cell's own error: a throw, or a rejection nothing
   * handled by the end of the turn. A timeout of the entry is the deadline.
   */
  #entryFailed(b: Binding, err: unknown): void {
    if (b.stopped || this.#host.disposed) return;
    const timedOut =
      err instanceof Error &&
      err.message === ENTRY_TIMED_OUT &&
      Date.now() >= b.run.deadline - DEADLINE_SLACK_MS;
    if (timedOut) this.#stop(b, 'timed_out');
    else b.uncaught ??= isolateError(err);
    b.wake?.();
  }

  /**
   * Stops the cell. At the deadline it first hands over the output it buffered, if the isolate
   * lets it (a cell spinning inside an entry was just stopped there by the entry's timeout); a
   * cancellation disposes at once.
   */
  #stop(b: Binding, why: 'timed_out' | 'cancelled'): void {
    if (b.stopped) return;
    b.stopped = why;
    b.abort.abort();
    b.wake?.();
    if (why === 'timed_out') b.stopping = this.#drainAndDispose();
    else this.dispose();
  }

  async #drainAndDispose(): Promise<void> {
    if (!this.#host.disposed) {
      // A cell stuck where the host cannot enter (a loop after a host call resolved) is not drained.
      const backstop = setTimeout(() => this.dispose(), DRAIN_WAIT_MS);
      try {
        await this.#apiRef('drain').apply(undefined, [], { timeout: DRAIN_TIMEOUT_MS });
      } catch {
        // Disposed meanwhile, or stuck: the output it held is lost with it.
      }
      clearTimeout(backstop);
    }
    this.dispose();
  }

  /** The prelude reported how the cell settled, or an uncaught error. */
  #report(kind: unknown, a: unknown, b: unknown, c: unknown): void {
    const binding = this.#binding;
    if (!binding || binding.stopped) return;
    const report = readReport(kind, a, b, c, this.#maxResultBytes);
    if (!report) binding.uncaught ??= { name: 'Error', message: 'the cell produced an invalid report' };
    else if (report.kind === 'uncaught') binding.uncaught ??= report.error;
    else binding.settled ??= report;
    binding.wake?.();
  }

  /** True once a cell ran here: a stateless caller must then dispose it rather than reuse it. */
  get used(): boolean {
    return this.#used;
  }

  #timer(op: unknown, id: unknown, delay: unknown): void {
    const b = this.#binding;
    if (!b || b.stopped || typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return;
    b.timers.get(id)?.();
    b.timers.delete(id);
    // The prelude bounds pending timers too; the host does not take its word for it.
    if (b.timers.size >= this.#maxTimers) return;
    if (op === 'set' && typeof delay === 'number' && delay >= 0 && delay <= MAX_TIMER_DELAY_MS) {
      b.timers.set(
        id,
        b.run.recorder.schedule(id, delay, () => void this.#fireTimer(b, id)),
      );
    }
    b.wake?.();
  }

  async #fireTimer(b: Binding, id: number): Promise<void> {
    b.timers.delete(id);
    if (b.stopped) return;
    b.inflight++;
    try {
      await this.#apiRef('fire').apply(undefined, [id], {
        timeout: Math.max(1, b.run.deadline - Date.now()),
      });
    } catch (err) {
      this.#entryFailed(b, err);
    } finally {
      b.inflight--;
      b.wake?.();
    }
  }

  async #hostCall(b: Binding, op: unknown, payload: unknown): Promise<string> {
    if (typeof op !== 'string' || typeof payload !== 'string' || payload.length > MAX_HOST_PAYLOAD_CHARS) {
      throw new TypeError('invalid host call');
    }
    const handler = b.run.hostCall;
    if (!handler) throw new Error(`${op} is not available in this sandbox`);
    b.inflight++;
    let answer: string;
    try {
      // The envelope (value or error) is what the journal records, so a replay fails the same way.
      answer = await b.run.recorder.hostCall(op, payload, async () => {
        try {
          return JSON.stringify({ value: await handler(op, payload, b.abort.signal) });
        } catch (err) {
          return JSON.stringify({ error: toSandboxError(op, err) });
        }
      });
    } finally {
      b.inflight--;
      b.wake?.();
    }
    // The cell that asked has ended: what its answer would set off must not run in a later cell
    // of this context, so it never comes.
    if (this.#binding !== b) return new Promise<string>(() => {});
    return answer;
  }

  /** Resolves when the cell has ended: settled with nothing pending, an uncaught error, or stopped. */
  #ended(b: Binding): Promise<void> {
    return new Promise((resolve) => {
      b.wake = () => {
        const idle = b.timers.size === 0 && b.inflight === 0;
        if (b.stopped || b.uncaught || (b.settled && idle)) {
          b.wake = undefined;
          resolve();
        }
      };
      b.wake();
    });
  }
}

/** The prelude options of sandboxes with these options (fixed per runner process). */
function preludeOptions(opts: Omit<SandboxOptions, 'heapMb'>): PreludeOptions {
  return {
    maxOutputBytes: opts.maxOutputBytes,
    maxResultBytes: opts.maxResultBytes,
    maxTimers: opts.maxTimers,
    maxWasmPages: opts.maxWasmPages,
    inspector: opts.inspector ?? {},
    capabilities: opts.capabilities ?? [],
  };
}
