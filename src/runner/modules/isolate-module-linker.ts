/**
 * Links downloaded modules into one sandbox's context: compiles each source as an isolated-vm
 * Module, loads its static dependencies first (so the resolver can answer synchronously),
 * instantiates and evaluates the graph, then hands the namespace to the prelude under a key.
 * Modules are cached per context by final URL, like an ES module map.
 */
import type ivm from 'isolated-vm';
import { Mcpv8Error, isMcpv8Error } from '../../core/index.ts';
import { resolveModuleSpecifier } from './module-specifier.ts';
import type { ModuleSourceLoader } from './module-source-loader.ts';

/** Largest module graph one context may load. */
const MAX_MODULES = 500;

export class IsolateModuleLinker {
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  readonly #loader: ModuleSourceLoader;
  readonly #register: ivm.Reference<(key: string, ns: unknown) => void>;
  readonly #byUrl = new Map<string, Promise<ivm.Module>>();
  readonly #urlOf = new Map<ivm.Module, string>();
  /** Requested (resolved) URL → final URL after redirects, for the resolver. */
  readonly #finalUrl = new Map<string, string>();
  readonly #cdnBase: string;
  /** Modules compiled since the last {@link drainLoaded}, in load order (a heap records them). */
  #loaded: Array<{ url: string; sha256: string }> = [];
  /** Replay: the source each URL must have (what the heap recorded); another is refused. */
  #expected: ReadonlyMap<string, string> | undefined;

  constructor(opts: {
    isolate: ivm.Isolate;
    context: ivm.Context;
    loader: ModuleSourceLoader;
    cdnBase: string;
    register: ivm.Reference<(key: string, ns: unknown) => void>;
  }) {
    this.#isolate = opts.isolate;
    this.#context = opts.context;
    this.#loader = opts.loader;
    this.#cdnBase = opts.cdnBase;
    this.#register = opts.register;
  }

  /**
   * Loads, links and evaluates `specifier` (top level: no parent) and registers its namespace in
   * the prelude. Resolves to the key `__mcpv8.import` looks the namespace up by.
   * @throws Mcpv8Error (MCPV8_ERR_MODULE_*, MCPV8_ERR_POLICY_DENIED) for anything the user can fix.
   */
  async import(specifier: string, signal: AbortSignal): Promise<string> {
    const module = await this.#load(specifier, undefined, signal);
    const url = this.#urlOf.get(module)!;
    await module.instantiate(this.#context, (spec, referrer) => this.#resolveLoaded(spec, referrer));
    await module.evaluate().catch((err: unknown) => {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [url, `evaluating it threw: ${String(err)}`], {
        cause: err,
      });
    });
    await this.#register.apply(undefined, [url, module.namespace.derefInto()]);
    return url;
  }

  /** Releases the compiled modules (their context is going away; nothing may import after this). */
  release(): void {
    for (const module of this.#urlOf.keys()) module.release();
    this.#urlOf.clear();
    this.#byUrl.clear();
  }

  /** Replay of a cell: modules it loads must hash as recorded (undefined: live, anything goes). */
  expect(modules: ReadonlyMap<string, string> | undefined): void {
    this.#expected = modules;
  }

  /** The modules loaded into this context since the last call, with the SHA-256 of their source. */
  drainLoaded(): Array<{ url: string; sha256: string }> {
    const loaded = this.#loaded;
    this.#loaded = [];
    return loaded;
  }

  async #load(specifier: string, parentUrl: string | undefined, signal: AbortSignal): Promise<ivm.Module> {
    const requested = resolveModuleSpecifier(specifier, parentUrl, this.#cdnBase);
    const existing = this.#byUrl.get(requested);
    if (existing) return existing;
    if (this.#byUrl.size >= MAX_MODULES) {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [
        requested,
        `the module graph exceeds ${MAX_MODULES} modules`,
      ]);
    }
    const loading = this.#compile(specifier, parentUrl, requested, signal);
    this.#byUrl.set(requested, loading);
    loading.catch(() => this.#byUrl.delete(requested));
    return loading;
  }

  async #compile(
    specifier: string,
    parentUrl: string | undefined,
    requested: string,
    signal: AbortSignal,
  ): Promise<ivm.Module> {
    const src = await this.#loader.load(specifier, parentUrl, signal);
    const expected = this.#expected?.get(src.url);
    if (this.#expected && expected !== src.sha256) {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [
        src.url,
        expected ? 'it changed since the heap was recorded' : 'the heap did not load it when recorded',
      ]);
    }
    this.#finalUrl.set(requested, src.url);
    const sameFinal = src.url !== requested ? this.#byUrl.get(src.url) : undefined;
    if (sameFinal) return sameFinal;
    let module: ivm.Module;
    try {
      module = await this.#isolate.compileModule(src.source, { filename: src.url });
    } catch (err) {
      if (isMcpv8Error(err)) throw err;
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [src.url, String(err)], { cause: err });
    }
    this.#urlOf.set(module, src.url);
    this.#loaded.push({ url: src.url, sha256: src.sha256 });
    if (src.url !== requested) this.#byUrl.set(src.url, Promise.resolve(module));
    // Static dependencies first: instantiate's resolver then only looks modules up.
    await Promise.all(module.dependencySpecifiers.map((dep) => this.#load(dep, src.url, signal)));
    return module;
  }

  #resolveLoaded(specifier: string, referrer: ivm.Module): Promise<ivm.Module> {
    const parent = this.#urlOf.get(referrer);
    const requested = resolveModuleSpecifier(specifier, parent, this.#cdnBase);
    const module = this.#byUrl.get(requested) ?? this.#byUrl.get(this.#finalUrl.get(requested) ?? '');
    if (!module)
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [requested, 'it was not loaded before linking']);
    return module;
  }
}
