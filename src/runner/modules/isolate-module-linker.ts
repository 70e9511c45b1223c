/**
 * Links downloaded modules into one sandbox's context, as V8 links an ES module graph: the whole
 * static graph is downloaded and compiled first (each module once per context, cycles included,
 * see {@link ModuleGraph}), so the resolver answers synchronously — a back edge gets the module
 * that is being linked, never a wait on its own link — then the graph is instantiated and
 * evaluated as `await import()` would (see {@link ImportEntry}), and its namespace is handed to
 * the prelude under a key.
 */
import type ivm from 'isolated-vm';
import { Mcpv8Error } from '../../core/index.ts';
import { ImportEntries, ModuleEvaluationError, type ImportEntry } from './import-entry.ts';
import { ModuleGraph, describeThrown, type ModuleRecord } from './module-graph.ts';
import { untilAborted, type ModuleSourceLoader } from './module-source-loader.ts';

export class IsolateModuleLinker {
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  readonly #register: (key: string, ns: unknown) => Promise<unknown>;
  readonly #graph: ModuleGraph;
  readonly #entries: ImportEntries;
  /** Links run one at a time: isolated-vm refuses two linkers touching the same module. */
  #linking: Promise<void> = Promise.resolve();
  /** Modules linked since the last {@link drainLoaded}, in link order (a heap records them). */
  #loaded: Array<{ url: string; sha256: string }> = [];

  constructor(opts: {
    isolate: ivm.Isolate;
    context: ivm.Context;
    loader: ModuleSourceLoader;
    cdnBase: string;
    register: (key: string, ns: unknown) => Promise<unknown>;
  }) {
    this.#isolate = opts.isolate;
    this.#context = opts.context;
    this.#register = opts.register;
    this.#graph = new ModuleGraph({ isolate: opts.isolate, loader: opts.loader, cdnBase: opts.cdnBase });
    this.#entries = new ImportEntries(opts.isolate, opts.context);
  }

  /**
   * Loads, links and evaluates `specifier` (top level: no parent) and registers its namespace in
   * the prelude. Resolves to the key `__mcpv8.import` looks the namespace up by, once the whole
   * graph has evaluated (top-level await included).
   * @throws Mcpv8Error (MCPV8_ERR_MODULE_*, MCPV8_ERR_POLICY_DENIED) for anything the user can fix;
   *   `signal.reason` once aborted.
   */
  async import(specifier: string, signal: AbortSignal): Promise<string> {
    try {
      return await this.#import(specifier, signal);
    } catch (err) {
      // Whoever disposed the isolate (deadline, cancellation, memory) reports why; this is no fault.
      if (this.#isolate.isDisposed) throw new DOMException('the sandbox was disposed', 'AbortError');
      throw err;
    }
  }

  async #import(specifier: string, signal: AbortSignal): Promise<string> {
    // Downloads first, concurrently with other imports; the link below re-walks what is cached.
    await this.#graph.collect(specifier, signal);
    const { root, entry } = await this.#exclusive(signal, () => this.#link(specifier, signal));
    let ns: ivm.Reference | undefined;
    try {
      ns = await entry.evaluate(signal);
      await this.#register(root.url, ns.derefInto());
    } catch (err) {
      if (!(err instanceof ModuleEvaluationError)) throw err;
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [
        root.url,
        `evaluating it threw: ${describeThrown(err.thrown)}`,
      ]);
    } finally {
      ns?.release();
      entry.release();
    }
    return root.url;
  }

  /** Releases the compiled modules (their context is going away; nothing may import after this). */
  release(): void {
    this.#graph.release();
    this.#entries.release();
  }

  /** Replay of a cell: modules it loads must hash as recorded (undefined: live, anything goes). */
  expect(modules: ReadonlyMap<string, string> | undefined): void {
    this.#graph.expect(modules);
  }

  /** The modules linked into this context since the last call, with the SHA-256 of their source. */
  drainLoaded(): Array<{ url: string; sha256: string }> {
    const loaded = this.#loaded;
    this.#loaded = [];
    return loaded;
  }

  /** Collects the graph as it stands now and instantiates it through a new entry module. */
  async #link(specifier: string, signal: AbortSignal): Promise<{ root: ModuleRecord; entry: ImportEntry }> {
    const { root, unlinked } = await this.#graph.collect(specifier, signal);
    const entry = await this.#entries.create(root.module);
    try {
      await entry.module.instantiate(this.#context, (spec, referrer) =>
        referrer === entry.module ? entry.resolve(spec) : this.#graph.resolve(spec, referrer),
      );
    } catch (err) {
      entry.release();
      if (this.#isolate.isDisposed) throw err;
      this.#graph.discard(unlinked);
      if (err instanceof Mcpv8Error) throw err;
      throw new Mcpv8Error(
        'MCPV8_ERR_MODULE_INVALID',
        [root.url, `linking it failed: ${describeThrown(err)}`],
        {
          cause: err,
        },
      );
    }
    for (const record of unlinked) {
      record.linked = true;
      this.#loaded.push({ url: record.url, sha256: record.sha256 });
    }
    return { root, entry };
  }

  /** Runs `fn` after every link queued before it has finished. */
  async #exclusive<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const previous = this.#linking;
    const mine = Promise.withResolvers<void>();
    this.#linking = previous.then(() => mine.promise);
    try {
      await untilAborted(previous, signal);
      return await fn();
    } finally {
      mine.resolve();
    }
  }
}
