/**
 * A typed, self-healing informer over client-node's list+watch cache (`ListWatch`, what
 * `makeInformer` builds). client-node keeps the cache and reconnects a watch that simply ends,
 * and relists on 410 Gone, but on any other error (API server down, connection reset, a failed
 * list) it reports `error` and stops for good; this wrapper restarts it after a capped backoff.
 * It adds a sync signal, periodic resync and handlers that cannot break the watch.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ListWatchSource } from './informer-sources.ts';
import { objectKey, parseKey } from './keys.ts';

/** Reacts to cache changes; each method is optional. Handlers must be quick and must not throw. */
export interface ResourceEventHandler<T> {
  onAdd?(obj: T): void;
  /** Also called for every cached object on each resync, with no change. */
  onUpdate?(obj: T): void;
  onDelete?(obj: T): void;
}

/** Options of an {@link Informer}. */
export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  source: ListWatchSource<T>;
  /** Re-delivers every cached object to `onUpdate` this often, in ms (default 0 = never). */
  resyncMs?: number;
  /** Restart delays after a watch or list error, in ms (default 200 doubling to 30 000). */
  restartBackoff?: { baseMs?: number; maxMs?: number };
  log?: Pick<Logger, 'debug' | 'warn' | 'error'>;
}

/** An informer over one source. `start` it once; read the cache once it has synced. */
export class Informer<T extends KubernetesObject> {
  readonly #lw: ListWatch<T>;
  readonly #handlers: ResourceEventHandler<T>[] = [];
  readonly #resyncMs: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #log: InformerOptions<T>['log'];
  readonly #path: string;
  readonly #syncWaiters = new Set<() => void>();
  #signal: AbortSignal | undefined;
  #listed = false;
  #synced = false;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #restarts = 0;

  constructor(opts: InformerOptions<T>) {
    const { source } = opts;
    this.#path = source.path;
    this.#resyncMs = opts.resyncMs ?? 0;
    this.#baseMs = opts.restartBackoff?.baseMs ?? 200;
    this.#maxMs = opts.restartBackoff?.maxMs ?? 30_000;
    this.#log = opts.log;
    const list = async () => {
      const result = await source.list();
      this.#listed = true;
      this.#failures = 0;
      return result;
    };
    const watch = new EventWatch(opts.kubeConfig, source.fromWatch, () => (this.#failures = 0));
    this.#lw = new ListWatch<T>(source.path, watch, list, false, source.labelSelector, source.fieldSelector);
    this.#lw.on('add', (obj) => this.#dispatch('onAdd', obj));
    this.#lw.on('update', (obj) => this.#dispatch('onUpdate', obj));
    this.#lw.on('delete', (obj) => this.#dispatch('onDelete', obj));
    this.#lw.on('error', (err) => this.#onError(err));
  }

  /** Restarts after list/watch errors so far (for tests and logs). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Adds a handler. Add handlers before `start`: one added later misses the initial adds. */
  addEventHandler(handler: ResourceEventHandler<T>): void {
    this.#handlers.push(handler);
  }

  /** The cached object of `key` (`namespace/name`, or `name` when cluster-scoped). */
  get(key: string): T | undefined {
    const { namespace, name } = parseKey(key);
    return this.#lw.get(name, namespace || undefined);
  }

  /** Cached objects, of one namespace or of all. */
  list(namespace?: string): readonly T[] {
    return this.#lw.list(namespace);
  }

  /** True once the first list is in the cache; stays true across restarts. */
  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves true once synced, or false if `signal` aborts first. */
  waitForSync(signal: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#syncWaiters.delete(onSynced);
        resolve(false);
      };
      const onSynced = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      };
      this.#syncWaiters.add(onSynced);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Lists and watches until `signal` aborts; resolves once stopped. Call once. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#signal) throw new Error(`informer ${this.#path} was already started`);
    this.#signal = signal;
    if (signal.aborted) return;
    const resync = this.#resyncMs > 0 ? setInterval(() => this.#resync(), this.#resyncMs).unref() : undefined;
    this.#run();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(resync);
    clearTimeout(this.#restartTimer);
    await this.#lw.stop();
  }

  /** Starts (or restarts) the underlying list+watch; marks the sync once a list got through. */
  #run(): void {
    this.#lw.start().then(
      () => this.#markSynced(),
      (err: unknown) => this.#onError(err),
    );
  }

  #markSynced(): void {
    if (this.#synced || !this.#listed || this.#signal?.aborted) return;
    this.#synced = true;
    for (const resolve of this.#syncWaiters) resolve();
    this.#syncWaiters.clear();
  }

  #onError(err: unknown): void {
    if (this.#signal?.aborted || this.#restartTimer) return;
    const delayMs = Math.min(this.#baseMs * 2 ** this.#failures, this.#maxMs);
    this.#failures++;
    this.#log?.warn({ path: this.#path, err, delayMs }, 'list/watch failed; restarting');
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#signal?.aborted) return;
      this.#restarts++;
      // Restarting keeps the cache and resumes from the last resourceVersion; client-node
      // relists (and reports deletions it missed) if the server answers 410 Gone.
      this.#run();
    }, delayMs);
    this.#restartTimer.unref();
  }

  #resync(): void {
    if (!this.#synced) return;
    for (const obj of this.#lw.list()) this.#dispatch('onUpdate', obj);
  }

  #dispatch(event: keyof ResourceEventHandler<T>, obj: T): void {
    for (const handler of this.#handlers) {
      try {
        handler[event]?.(obj);
      } catch (err) {
        // client-node calls handlers inside its watch callback, where a throw is swallowed or
        // becomes an unhandled rejection; log it here instead.
        this.#log?.error({ path: this.#path, event, err }, 'informer event handler threw');
      }
    }
  }
}

/** A handler that queues each changed object's key (or the keys `map` returns) on `target`. */
export function enqueueHandler<T extends KubernetesObject>(
  target: { enqueue(key: string): void },
  map: (obj: T) => string | readonly string[] | undefined = objectKey,
): ResourceEventHandler<T> {
  const enqueue = (obj: T) => {
    const keys = map(obj);
    if (typeof keys === 'string') target.enqueue(keys);
    else for (const key of keys ?? []) target.enqueue(key);
  };
  return { onAdd: enqueue, onUpdate: enqueue, onDelete: enqueue };
}

/** client-node's Watch, converting watched objects to the cached shape and noting progress. */
class EventWatch extends Watch {
  readonly #fromWatch: ((raw: unknown) => unknown) | undefined;
  readonly #onEvent: () => void;

  constructor(kc: KubeConfig, fromWatch: ((raw: unknown) => unknown) | undefined, onEvent: () => void) {
    super(kc);
    this.#fromWatch = fromWatch;
    this.#onEvent = onEvent;
  }

  override watch(...[path, query, callback, done]: Parameters<Watch['watch']>): Promise<AbortController> {
    const convert = this.#fromWatch;
    return super.watch(
      path,
      query,
      (phase, obj: unknown, raw?: unknown) => {
        const isObject = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
        if (isObject) this.#onEvent();
        callback(phase, isObject && convert ? convert(obj) : obj, raw);
      },
      done,
    );
  }
}
