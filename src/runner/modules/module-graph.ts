/**
 * The module map of one sandbox context: each module is downloaded and compiled once, keyed by
 * the URL it was finally served from (so redirects and different spellings of one URL share
 * it), and an import's whole static graph is gathered before linking. The walk never waits on a
 * module's own subtree — a back edge (self-import, A↔B, longer cycles) finds the module already
 * visited and moves on — so cycles load like any other graph. Bounded per context.
 */
import type ivm from 'isolated-vm';
import { Mcpv8Error } from '../../core/errors.ts';
import { resolveModuleSpecifier } from './module-specifier.ts';
import { untilAborted, type ModuleSourceLoader } from './module-source-loader.ts';

/** Most modules (distinct final URLs) one context may compile. */
export const MAX_MODULES_PER_CONTEXT = 500;
/** Most distinct module URLs one context may request (redirect sources included). */
export const MAX_MODULE_REQUESTS_PER_CONTEXT = 1000;
/** Longest chain of static imports an import may need newly loaded (the cell's import is 1). */
export const MAX_IMPORT_DEPTH = 128;
/** Most module downloads one context has in flight at once (a wide fan-out queues). */
export const MAX_CONCURRENT_MODULE_DOWNLOADS = 8;

/** One compiled module of the context. */
export interface ModuleRecord {
  /** The URL its source was finally served from: its identity and its base for relative imports. */
  readonly url: string;
  readonly sha256: string;
  readonly module: ivm.Module;
  readonly specifiers: readonly string[];
  /** True once instantiated: it and everything it imports are linked for good. */
  linked: boolean;
}

/** What one import needs: its root, and the modules not linked yet (to link now), root first. */
export interface CollectedGraph {
  readonly root: ModuleRecord;
  readonly unlinked: readonly ModuleRecord[];
}

export class ModuleGraph {
  readonly #isolate: ivm.Isolate;
  readonly #loader: ModuleSourceLoader;
  readonly #cdnBase: string;
  /** Final URL → its compiled module (pending while compiling). */
  readonly #byUrl = new Map<string, Promise<ModuleRecord>>();
  /** Requested (resolved, pre-redirect) URL → its module (pending while downloading). */
  readonly #requests = new Map<string, Promise<ModuleRecord>>();
  /** The settled part of {@link #requests}: what the synchronous resolver looks up. */
  readonly #resolved = new Map<string, ModuleRecord>();
  readonly #byModule = new Map<ivm.Module, ModuleRecord>();
  /** Downloads are shared by every import that needs them, so only the context's end stops them. */
  readonly #lifetime = new AbortController();
  readonly #slots = new DownloadSlots(MAX_CONCURRENT_MODULE_DOWNLOADS);
  #expected: ReadonlyMap<string, string> | undefined;

  constructor(opts: { isolate: ivm.Isolate; loader: ModuleSourceLoader; cdnBase: string }) {
    this.#isolate = opts.isolate;
    this.#loader = opts.loader;
    this.#cdnBase = opts.cdnBase;
  }

  /** Replay: the source SHA-256 each recorded final URL must have; another source is refused. */
  expect(modules: ReadonlyMap<string, string> | undefined): void {
    this.#expected = modules;
  }

  /**
   * Downloads and compiles everything `specifier` statically imports that is not linked yet.
   * Each module is visited once per walk, so cycles end; modules already linked (and therefore
   * their whole subgraph) are not walked again.
   * @throws Mcpv8Error MCPV8_ERR_MODULE_* (MCPV8_ERR_MODULE_GRAPH_LIMIT past a bound) or
   *   MCPV8_ERR_POLICY_DENIED; `signal.reason` once aborted.
   */
  async collect(specifier: string, signal: AbortSignal): Promise<CollectedGraph> {
    const failed = new AbortController();
    const stop = AbortSignal.any([signal, failed.signal]);
    const seen = new Set<ModuleRecord>();
    const unlinked: ModuleRecord[] = [];
    const visit = async (spec: string, parent: ModuleRecord | undefined, depth: number) => {
      const record = await untilAborted(this.#request(spec, parent?.url), stop);
      if (record.linked || seen.has(record)) return record;
      seen.add(record);
      unlinked.push(record);
      if (record.specifiers.length > 0 && depth >= MAX_IMPORT_DEPTH) {
        throw new Mcpv8Error('MCPV8_ERR_MODULE_GRAPH_LIMIT', [
          record.url,
          `its static imports go deeper than ${MAX_IMPORT_DEPTH} modules`,
        ]);
      }
      await Promise.all(record.specifiers.map((dep) => visit(dep, record, depth + 1)));
      return record;
    };
    try {
      const root = await visit(specifier, undefined, 1);
      return { root, unlinked };
    } catch (err) {
      // The first failure decides; the other branches stop waiting (downloads they started go on).
      failed.abort();
      signal.throwIfAborted();
      throw err;
    }
  }

  /** The module `specifier` names inside `referrer`, for the linker's synchronous resolver. */
  resolve(specifier: string, referrer: ivm.Module): ivm.Module {
    const parent = this.#byModule.get(referrer);
    const requested = resolveModuleSpecifier(specifier, parent?.url, this.#cdnBase);
    const record = this.#resolved.get(requested);
    if (!record) {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [requested, 'it was not loaded before linking']);
    }
    return record.module;
  }

  /**
   * Forgets modules a failed link left unlinked. isolated-vm leaves them marked as "being
   * linked" by the failed linker, so they could never be linked again: the next import that
   * needs one downloads (from the cache) and compiles it afresh, as if it had never been loaded.
   */
  discard(records: Iterable<ModuleRecord>): void {
    const dropped = new Set<ModuleRecord>();
    for (const record of records) {
      if (record.linked) continue;
      dropped.add(record);
      this.#byUrl.delete(record.url);
      this.#byModule.delete(record.module);
      record.module.release();
    }
    for (const [url, record] of this.#resolved) {
      if (!dropped.has(record)) continue;
      this.#resolved.delete(url);
      this.#requests.delete(url);
    }
  }

  /** Releases every compiled module and stops downloads (the context is going away). */
  release(): void {
    this.#lifetime.abort(new Error('the sandbox context was released'));
    for (const module of this.#byModule.keys()) module.release();
    this.#byModule.clear();
    this.#byUrl.clear();
    this.#requests.clear();
    this.#resolved.clear();
  }

  /** The module a specifier names, downloaded and compiled once per requested URL. */
  async #request(specifier: string, parentUrl: string | undefined): Promise<ModuleRecord> {
    const requested = resolveModuleSpecifier(specifier, parentUrl, this.#cdnBase);
    const known = this.#requests.get(requested);
    if (known) return known;
    if (this.#requests.size >= MAX_MODULE_REQUESTS_PER_CONTEXT) {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_GRAPH_LIMIT', [
        requested,
        `this session already requested ${MAX_MODULE_REQUESTS_PER_CONTEXT} module URLs`,
      ]);
    }
    const loading = this.#download(specifier, parentUrl, requested);
    this.#requests.set(requested, loading);
    // A failed request may be retried by a later import (the server may have recovered).
    loading.catch(() => {
      if (this.#requests.get(requested) === loading) this.#requests.delete(requested);
    });
    return loading;
  }

  async #download(
    specifier: string,
    parentUrl: string | undefined,
    requested: string,
  ): Promise<ModuleRecord> {
    const signal = this.#lifetime.signal;
    const src = await this.#slots.run(() => this.#loader.load(specifier, parentUrl, signal), signal);
    // Only modules that were linked are recorded: one the heap does not list may have been
    // downloaded for an import that failed; if it gets linked now, the replay reports it.
    const expected = this.#expected?.get(src.url);
    if (expected !== undefined && expected !== src.sha256) {
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [src.url, 'it changed since the heap was recorded']);
    }
    // Set synchronously after the download, so concurrent requests that end at the same final
    // URL (redirects, spellings) share one module.
    let compiling = this.#byUrl.get(src.url);
    if (!compiling) {
      if (this.#byUrl.size >= MAX_MODULES_PER_CONTEXT) {
        throw new Mcpv8Error('MCPV8_ERR_MODULE_GRAPH_LIMIT', [
          src.url,
          `this session already loaded ${MAX_MODULES_PER_CONTEXT} modules`,
        ]);
      }
      const started = this.#compile(src.url, src.source, src.sha256);
      compiling = started;
      this.#byUrl.set(src.url, started);
      started.catch(() => {
        if (this.#byUrl.get(src.url) === started) this.#byUrl.delete(src.url);
      });
    }
    const record = await compiling;
    this.#resolved.set(requested, record);
    return record;
  }

  async #compile(url: string, source: string, sha256: string): Promise<ModuleRecord> {
    let module: ivm.Module;
    try {
      module = await this.#isolate.compileModule(source, { filename: url });
    } catch (err) {
      if (this.#isolate.isDisposed) throw err;
      throw new Mcpv8Error('MCPV8_ERR_MODULE_INVALID', [url, describeThrown(err)], { cause: err });
    }
    const record: ModuleRecord = {
      url,
      sha256,
      module,
      specifiers: module.dependencySpecifiers,
      linked: false,
    };
    this.#byModule.set(module, record);
    return record;
  }
}

/** A value thrown inside the isolate, as text for an error message: bounded, never a host stack. */
export function describeThrown(err: unknown): string {
  let text: string;
  try {
    text = String(err);
  } catch {
    text = 'a value that cannot be shown';
  }
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

/** A counting semaphore: at most `size` tasks run at once, the rest wait in order. */
class DownloadSlots {
  readonly #size: number;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(size: number) {
    this.#size = size;
  }

  async run<T>(task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    if (this.#running >= this.#size) {
      const turn = Promise.withResolvers<void>();
      this.#queue.push(turn.resolve);
      try {
        await untilAborted(turn.promise, signal);
      } catch (err) {
        // Gave up waiting: hand the slot on if it was granted meanwhile, else leave the queue.
        const at = this.#queue.indexOf(turn.resolve);
        if (at >= 0) this.#queue.splice(at, 1);
        else this.#next();
        throw err;
      }
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      this.#next();
    }
  }

  /** Passes the caller's slot to the first waiter, or frees it. */
  #next(): void {
    const waiter = this.#queue.shift();
    if (waiter) waiter();
    else this.#running--;
  }
}
