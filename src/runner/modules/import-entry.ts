/**
 * Evaluates a linked module graph the way `await import()` does in V8: the import is done when
 * the whole graph has evaluated, top-level await included, and fails with what the graph threw.
 *
 * isolated-vm's `Module.evaluate()` drops the evaluation promise: it returns once the
 * synchronous part and its microtasks ran, throwing only what failed by then. So each import
 * evaluates a tiny entry module that imports the target and, as its body (which V8 runs only
 * after the target's graph completed), notifies the host through a channel module. A graph
 * still pending when `evaluate()` returns (top-level await on a timer or host call) is
 * awaited through that notice; a failure that comes later is found by probing: a fresh module
 * importing an errored module fails at once with the same error.
 */
import ivm from 'isolated-vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { untilAborted } from './module-source-loader.ts';

const TARGET = 'mcpv8:import-target';
const CHANNEL = 'mcpv8:import-channel';
// `connect` is hoisted and called once by the host; nothing outside the host can import this.
const CHANNEL_SOURCE = `let notify;
export function connect(fn) { notify ??= fn; }
export function arrived(id) { notify(id); }
`;
const PROBE_SOURCE = `import ${JSON.stringify(TARGET)};\n`;
/**
 * Probing for a late failure backs off from the first delay to the last (ms). A pending probe
 * stays referenced by the pending graph, so the cap bounds what a graph that never settles
 * costs: one tiny module a second, until it settles or the context goes.
 */
const FIRST_PROBE_MS = 2;
const MAX_PROBE_MS = 1000;

function entrySource(id: number): string {
  return (
    `import * as ns from ${JSON.stringify(TARGET)};\n` +
    `import { arrived } from ${JSON.stringify(CHANNEL)};\n` +
    `export { ns };\narrived(${id});\n`
  );
}

/** What a module graph threw while evaluating (a copy from the isolate). */
export class ModuleEvaluationError extends Error {
  readonly thrown: unknown;
  constructor(thrown: unknown) {
    super('the module graph threw while evaluating');
    this.thrown = thrown;
  }
}

/** Creates the entry modules of one context's imports. */
export class ImportEntries {
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  readonly #entries = new Map<number, ImportEntry>();
  /** Ends every wait and probe of this context's imports. */
  readonly #lifetime = new AbortController();
  #channel: Promise<ivm.Module> | undefined;
  #nextId = 1;

  constructor(isolate: ivm.Isolate, context: ivm.Context) {
    this.#isolate = isolate;
    this.#context = context;
  }

  /** An entry module for `target` (whose graph the caller links by instantiating the entry). */
  async create(target: ivm.Module): Promise<ImportEntry> {
    const channel = await (this.#channel ??= this.#openChannel().catch((err: unknown) => {
      this.#channel = undefined;
      throw err;
    }));
    const id = this.#nextId++;
    const module = await this.#isolate.compileModule(entrySource(id), { filename: 'mcpv8:import' });
    const entry = new ImportEntry({
      isolate: this.#isolate,
      context: this.#context,
      module,
      target,
      channel,
      lifetime: this.#lifetime.signal,
      release: () => this.#entries.delete(id),
    });
    this.#entries.set(id, entry);
    return entry;
  }

  /** Releases the channel (the context is going away). */
  release(): void {
    this.#lifetime.abort(new DOMException('the sandbox context was released', 'AbortError'));
    void this.#channel?.then((m) => m.release()).catch(() => undefined);
    this.#channel = undefined;
    this.#entries.clear();
  }

  async #openChannel(): Promise<ivm.Module> {
    const channel = await this.#isolate.compileModule(CHANNEL_SOURCE, { filename: CHANNEL });
    await channel.instantiate(this.#context, () => {
      throw new Error('the import channel has no imports');
    });
    await channel.evaluate();
    const namespace = channel.namespace;
    const connect = (await namespace.get('connect', { reference: true })) as ivm.Reference<
      (fn: unknown) => void
    >;
    // Synchronous: the notice is in before evaluate() returns when the graph completes in it.
    const notify = new ivm.Callback((id: unknown) => {
      if (typeof id === 'number') this.#entries.get(id)?.arrive();
    });
    await connect.apply(undefined, [notify]);
    connect.release();
    namespace.release();
    return channel;
  }
}

/** One import's entry module: link it, then {@link evaluate} it once. */
export class ImportEntry {
  readonly module: ivm.Module;
  readonly #isolate: ivm.Isolate;
  readonly #context: ivm.Context;
  readonly #target: ivm.Module;
  readonly #channel: ivm.Module;
  readonly #release: () => void;
  readonly #lifetime: AbortSignal;
  #arrived = false;
  readonly #arrival = Promise.withResolvers<void>();

  constructor(opts: {
    isolate: ivm.Isolate;
    context: ivm.Context;
    module: ivm.Module;
    target: ivm.Module;
    channel: ivm.Module;
    lifetime: AbortSignal;
    release: () => void;
  }) {
    this.module = opts.module;
    this.#isolate = opts.isolate;
    this.#context = opts.context;
    this.#target = opts.target;
    this.#channel = opts.channel;
    this.#release = opts.release;
    this.#lifetime = opts.lifetime;
  }

  /** Called (through the channel) when the entry's body ran: the whole graph has evaluated. */
  arrive(): void {
    this.#arrived = true;
    this.#arrival.resolve();
  }

  /** The entry's own imports, for the resolver of the instantiate that links it. */
  resolve(specifier: string): ivm.Module {
    if (specifier === TARGET) return this.#target;
    if (specifier === CHANNEL) return this.#channel;
    throw new Error(`the import entry does not import ${specifier}`);
  }

  /**
   * Evaluates the linked graph and resolves, once all of it has evaluated, to a reference to the
   * target's namespace (the caller releases it).
   * @throws ModuleEvaluationError with what the graph threw; `signal.reason` once aborted;
   *   isolated-vm's error when the isolate was disposed.
   */
  async evaluate(signal: AbortSignal): Promise<ivm.Reference<object>> {
    try {
      await this.module.evaluate();
    } catch (thrown) {
      if (this.#isolate.isDisposed) throw thrown;
      // Completed all the same: what was thrown was some other promise's unhandled rejection.
      if (!this.#arrived) throw new ModuleEvaluationError(thrown);
    }
    if (!this.#arrived) {
      const done = new AbortController();
      const waiting = AbortSignal.any([signal, this.#lifetime]);
      try {
        await untilAborted(
          Promise.race([this.#arrival.promise, this.#watch(AbortSignal.any([waiting, done.signal]))]),
          waiting,
        );
      } finally {
        done.abort();
      }
    }
    const namespace = this.module.namespace as ivm.Reference<{ ns: object }>;
    try {
      return await namespace.get('ns', { reference: true });
    } finally {
      namespace.release();
    }
  }

  /** Releases the entry module (its namespace reference, once taken, lives on). */
  release(): void {
    this.#release();
    this.module.release();
  }

  /** Rejects with the graph's error once a probe finds it errored; runs until `stop` aborts. */
  async #watch(stop: AbortSignal): Promise<never> {
    for (let delay = FIRST_PROBE_MS; ; delay = Math.min(delay * 2, MAX_PROBE_MS)) {
      await sleep(delay, undefined, { signal: stop, ref: false });
      let probe: ivm.Module | undefined;
      try {
        probe = await this.#isolate.compileModule(PROBE_SOURCE, { filename: 'mcpv8:import-probe' });
        await probe.instantiate(this.#context, () => this.#target);
        // Pending graph: the probe waits with it and this returns; errored: it throws at once.
        await probe.evaluate();
      } catch (thrown) {
        if (this.#isolate.isDisposed || stop.aborted) throw thrown;
        throw new ModuleEvaluationError(thrown);
      } finally {
        probe?.release();
      }
    }
  }
}
