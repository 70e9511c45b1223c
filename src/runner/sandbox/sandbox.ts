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
import { settledResult, type CellRunOptions, type CellRunResult } from './cell-run.ts';
import { IsolateModuleLinker } from '../modules/isolate-module-linker.ts';
import type { ModuleSourceLoader } from '../modules/module-source-loader.ts';
import { wasmInstallSource } from '../wasm-modules.ts';
import { toSandboxError } from './sandbox-error.ts';

const LEVELS: ReadonlySet<string> = new Set(['log', 'info', 'warn', 'error', 'debug']);
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const MAX_HOST_PAYLOAD_CHARS = 1 << 20;

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
  inflight: number;
  onIdle?: () => void;
  uncaught?: string;
  /** Whether any timer ran: only then can an uncaught error appear after the cell settled. */
  timersFired: boolean;
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

  private constructor(
    host: SandboxIsolate,
    context: ivm.Context,
    api: ivm.Reference<Record<string, unknown>>,
  ) {
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
      const emit = new ivm.Callback(
        (level: unknown, text: unknown) => {
          const b = bound();
          if (b && typeof level === 'string' && LEVELS.has(level) && typeof text === 'string') {
            b.run.onOutput(level as OutputLevel, text);
          }
        },
        { ignored: true },
      );
      const now = new ivm.Callback(() => bound()?.run.recorder.now() ?? Date.now());
      const seed = new ivm.Callback(() => bound()?.run.recorder.randomSeed() ?? 1);
      const timer = new ivm.Callback(
        (op: unknown, id: unknown, delay: unknown) => {
          if (sandbox) sandbox.#timer(op, id, delay);
        },
        { ignored: true },
      );
      const hostCall = new ivm.Reference(async (op: unknown, payload: unknown) => {
        const b = bound();
        if (!b) throw new Error('no execution is bound to this sandbox');
        return sandbox!.#hostCall(b, op, payload);
      });
      const connect = context.global.getSync(CONNECT_GLOBAL, { reference: true }) as ivm.Reference<
        (...args: unknown[]) => unknown
      >;
      const api = connect.applySync(undefined, [emit, now, seed, timer, hostCall], {
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
      sandbox = new Sandbox(host, context, api);
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
   * Runs one cell to its end: the cell's promise settled and no timer or host call pending, or
   * the deadline, or cancellation. Never throws for anything the cell does; the sandbox is
   * disposed after a timeout, cancellation or OOM and must not be reused then.
   */
  async run(opts: CellRunOptions): Promise<CellRunResult> {
    if (this.#binding) throw new Error('sandbox is already running a cell');
    if (this.disposed) throw new Error('sandbox is disposed');
    const binding: Binding = {
      run: opts,
      timers: new Map(),
      inflight: 0,
      timersFired: false,
      abort: new AbortController(),
    };
    this.#binding = binding;
    const resumed = this.#used;
    this.#used = true;
    this.#host.cellsRun++;
    let stopped: 'timed_out' | 'cancelled' | undefined;
    const stop = (why: 'timed_out' | 'cancelled') => {
      stopped ??= why;
      binding.abort.abort();
      this.dispose();
    };
    const deadlineTimer = setTimeout(() => stop('timed_out'), Math.max(0, opts.deadline - Date.now()));
    const onAbort = () => stop('cancelled');
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      // A session's next cell: the previous cell's output budget and uncaught error are not its own.
      if (resumed) await this.#apiRef('beginCell').apply(undefined, []);
      const script = await this.#isolate.compileScript(opts.code, { filename: opts.filename });
      const settled = (await script.run(this.#context, { promise: true, copy: true })) as string;
      script.release();
      await this.#idle(binding);
      // Saves a round trip into the isolate for the common case of a cell without timers.
      const late = binding.timersFired
        ? (binding.uncaught ?? this.#apiRef('uncaught').applySync(undefined, [], { result: { copy: true } }))
        : undefined;
      return settledResult(settled, late);
    } catch (err) {
      if (stopped) return { kind: stopped };
      const message = err instanceof Error ? err.message : String(err);
      if (/memory limit/i.test(message) || this.disposed) return { kind: 'out_of_memory', message };
      if (err instanceof SyntaxError) {
        return { kind: 'syntax_error', error: { name: 'SyntaxError', message, stack: err.stack } };
      }
      throw err;
    } finally {
      clearTimeout(deadlineTimer);
      opts.signal.removeEventListener('abort', onAbort);
      for (const cancel of binding.timers.values()) cancel();
      this.#binding = undefined;
    }
  }

  /** True once a cell ran here: a stateless caller must then dispose it rather than reuse it. */
  get used(): boolean {
    return this.#used;
  }

  #timer(op: unknown, id: unknown, delay: unknown): void {
    const b = this.#binding;
    if (!b || typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return;
    b.timers.get(id)?.();
    b.timers.delete(id);
    if (op === 'set' && typeof delay === 'number' && delay >= 0 && delay <= MAX_TIMER_DELAY_MS) {
      b.timers.set(
        id,
        b.run.recorder.schedule(id, delay, () => void this.#fireTimer(b, id)),
      );
    }
    this.#checkIdle(b);
  }

  async #fireTimer(b: Binding, id: number): Promise<void> {
    b.timers.delete(id);
    b.inflight++;
    b.timersFired = true;
    try {
      const error = await this.#apiRef('fire').apply(undefined, [id], {
        result: { copy: true },
        timeout: Math.max(1, b.run.deadline - Date.now()),
      });
      if (error !== undefined) b.uncaught ??= error;
    } catch {
      // The isolate was disposed (deadline, cancel, OOM): run() reports why.
    } finally {
      b.inflight--;
      this.#checkIdle(b);
    }
  }

  async #hostCall(b: Binding, op: unknown, payload: unknown): Promise<string> {
    if (typeof op !== 'string' || typeof payload !== 'string' || payload.length > MAX_HOST_PAYLOAD_CHARS) {
      throw new TypeError('invalid host call');
    }
    const handler = b.run.hostCall;
    if (!handler) throw new Error(`${op} is not available in this sandbox`);
    b.inflight++;
    try {
      // The envelope (value or error) is what the journal records, so a replay fails the same way.
      return await b.run.recorder.hostCall(op, payload, async () => {
        try {
          return JSON.stringify({ value: await handler(op, payload, b.abort.signal) });
        } catch (err) {
          return JSON.stringify({ error: toSandboxError(op, err) });
        }
      });
    } finally {
      b.inflight--;
      this.#checkIdle(b);
    }
  }

  #idle(b: Binding): Promise<void> {
    if (b.timers.size === 0 && b.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      b.onIdle = resolve;
      b.abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  #checkIdle(b: Binding): void {
    if (b.onIdle && b.timers.size === 0 && b.inflight === 0) b.onIdle();
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
