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
import { OUTPUT_MAX_LINES } from '../../core/index.ts';
import type { InspectorOptions } from './inspector.ts';
import type { PreludeApi, PreludeOptions } from './prelude.ts';
import { CONNECT_GLOBAL } from './prelude-snapshot.ts';
import { SandboxIsolate } from './sandbox-isolate.ts';
import { isolateError, type CellError, type CellRunOptions, type CellRunResult } from './cell-run.ts';
import { BoundCell, type CellPort } from './bound-cell.ts';
import { IsolateModuleLinker } from '../modules/isolate-module-linker.ts';
import type { ModuleSourceLoader } from '../modules/module-source-loader.ts';
import { wasmInstallSource } from '../wasm-modules.ts';

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

/** The prelude's API as the host holds it: one function, `(name, a, b) => api[name](a, b)`. */
type PreludeApiRef = ivm.Reference<(name: keyof PreludeApi, a?: unknown, b?: unknown) => unknown>;

export class Sandbox {
  readonly effectiveHeapMb: number;
  readonly #host: SandboxIsolate;
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  /** The prelude's API as one function: `(name, a, b) => api[name](a, b)` (see prelude-snapshot.ts). */
  readonly #api: PreludeApiRef;
  #linker: IsolateModuleLinker | undefined;
  #expectedModules: ReadonlyMap<string, string> | undefined;
  #binding: BoundCell | undefined;
  #used = false;
  #retired = false;
  readonly #maxResultBytes: number;
  readonly #maxTimers: number;

  private constructor(
    host: SandboxIsolate,
    context: ivm.Context,
    api: PreludeApiRef,
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

  /** Calls one function of the prelude's API (an isolate entry; `timeout` ends it in place). */
  #call(name: keyof PreludeApi, args: unknown[], timeout?: number): Promise<unknown> {
    // Arguments are primitives or `derefInto()` handles, which isolated-vm transfers as they are.
    const all = [name, ...args] as Parameters<PreludeApiRef['apply']>[1];
    return this.#api.apply(undefined, all, timeout === undefined ? {} : { timeout });
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
      const emit = new ivm.Callback((level: unknown, text: unknown) => bound()?.output(level, text));
      const report = new ivm.Callback((kind: unknown, a: unknown, b: unknown, c: unknown) =>
        bound()?.report(kind, a, b, c),
      );
      const now = new ivm.Callback(() => bound()?.run.recorder.now() ?? Date.now());
      const seed = new ivm.Callback(() => bound()?.run.recorder.randomSeed() ?? 1);
      const timer = new ivm.Callback((op: unknown, id: unknown, delay: unknown) =>
        bound()?.timer(op, id, delay),
      );
      const hostCall = new ivm.Reference(async (op: unknown, payload: unknown) => {
        const b = bound();
        if (!b) throw new Error('no execution is bound to this sandbox');
        return b.hostCall(op, payload);
      });
      const connect = context.global.getSync(CONNECT_GLOBAL, { reference: true }) as ivm.Reference<
        (...args: unknown[]) => unknown
      >;
      const api = connect.applySync(undefined, [emit, report, now, seed, timer, hostCall], {
        result: { reference: true },
      }) as PreludeApiRef;
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
      register: (key, ns) => this.#call('registerNamespace', [key, ns]),
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
    const bytes = this.#api.applySync(undefined, ['offHeapBytes'], { timeout: 100 });
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
    this.#api.release();
    if (!this.#host.disposed) this.#context.release();
  }

  /**
   * Runs one cell to its end: the cell's promise settled and no timer or host call pending, an
   * uncaught error, the deadline, or cancellation (see BoundCell). Never throws for anything the
   * cell does; the sandbox is disposed after a timeout, cancellation or OOM and must not be
   * reused then.
   */
  async run(opts: CellRunOptions): Promise<CellRunResult> {
    if (this.#binding) throw new Error('sandbox is already running a cell');
    if (this.disposed) throw new Error('sandbox is disposed');
    const cell = new BoundCell(opts, this.#port(), {
      maxResultBytes: this.#maxResultBytes,
      maxTimers: this.#maxTimers,
    });
    this.#binding = cell;
    const resumed = this.#used;
    this.#used = true;
    this.#host.cellsRun++;
    const deadlineTimer = setTimeout(() => cell.stop('timed_out'), Math.max(0, opts.deadline - Date.now()));
    const onAbort = () => cell.stop('cancelled');
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await cell.result(await this.#runCell(cell, resumed));
    } finally {
      clearTimeout(deadlineTimer);
      opts.signal.removeEventListener('abort', onAbort);
      cell.finish();
      this.#binding = undefined;
    }
  }

  /** True once a cell ran here: a stateless caller must then dispose it rather than reuse it. */
  get used(): boolean {
    return this.#used;
  }

  /**
   * Compiles the cell, has the prelude start its function and follow its promise, and waits for
   * the end. Returns the cell's syntax error, if it has one; every other ending is on `cell`.
   */
  async #runCell(cell: BoundCell, resumed: boolean): Promise<CellError | undefined> {
    // Every entry carries the time left, so a cell spinning inside one is stopped there with the
    // isolate intact and its buffered output can still be drained.
    const left = () => ({ timeout: cell.timeLeft() });
    try {
      // A session's next cell: the previous cell's output budget and uncaught error are not its own.
      if (resumed) await this.#call('beginCell', [], left().timeout);
      let script: ivm.Script;
      try {
        script = await this.#isolate.compileScript(cell.run.code, { filename: cell.run.filename });
      } catch (err) {
        if (cell.stopped || this.#host.disposed) return undefined;
        return isolateError(err);
      }
      // The script evaluates to the cell's async function: nothing of the cell has run yet.
      let fn: ivm.Reference<unknown>;
      try {
        fn = await script.run(this.#context, { reference: true, ...left() });
      } finally {
        script.release();
      }
      try {
        await this.#call('watch', [fn.derefInto()], left().timeout);
      } finally {
        fn.release();
      }
      await cell.ended();
    } catch (err) {
      cell.entryFailed(err);
    }
    return undefined;
  }

  #port(): CellPort {
    const host = this.#host;
    return {
      fire: (id, timeout) => this.#call('fire', [id], timeout),
      drain: (timeout) => this.#call('drain', [], timeout),
      dispose: () => this.dispose(),
      get isolateDisposed() {
        return host.disposed;
      },
    };
  }
}

/** The prelude options of sandboxes with these options (fixed per runner process). */
function preludeOptions(opts: Omit<SandboxOptions, 'heapMb'>): PreludeOptions {
  return {
    maxOutputBytes: opts.maxOutputBytes,
    maxOutputLines: OUTPUT_MAX_LINES,
    maxResultBytes: opts.maxResultBytes,
    maxTimers: opts.maxTimers,
    maxWasmPages: opts.maxWasmPages,
    inspector: opts.inspector ?? {},
    capabilities: opts.capabilities ?? [],
  };
}
