/**
 * Keeps a few sandboxes (isolate + context + prelude) ready for the default heap size, so that
 * creating them (≈ 2 ms each) is off the latency path of a stateless execution.
 */
import { effectiveHeapMb } from '../../core/index.ts';
import { Sandbox, type SandboxOptions } from './sandbox.ts';

export interface SandboxPoolOptions extends Omit<SandboxOptions, 'heapMb'> {
  /** Heap cap of the pre-created sandboxes; other sizes are created on demand. */
  defaultHeapMb: number;
  /** How many ready sandboxes to keep. 0 disables pre-creation. */
  size: number;
}

export class SandboxPool {
  readonly #opts: SandboxPoolOptions;
  readonly #ready: Sandbox[] = [];
  readonly #inflight = new Set<Promise<void>>();
  #closed = false;

  constructor(opts: SandboxPoolOptions) {
    this.#opts = opts;
  }

  /** Fills the pool; resolves when it is full and no creation is in flight. */
  async warm(): Promise<void> {
    await Promise.all([...Array.from({ length: this.#opts.size }, () => this.#fillOne()), ...this.#inflight]);
  }

  /**
   * A fresh, never-used sandbox with the given heap cap. Give it back with {@link release}, which
   * disposes it and refills the pool: refilling after the execution, not during it, keeps
   * sandbox creation off the execution's latency.
   */
  async acquire(heapMb: number): Promise<Sandbox> {
    const wantsDefault = effectiveHeapMb(heapMb) === effectiveHeapMb(this.#opts.defaultHeapMb);
    const ready = wantsDefault ? this.#ready.pop() : undefined;
    return ready ?? Sandbox.create({ ...this.#opts, heapMb });
  }

  /**
   * Disposes a sandbox acquired from this pool and starts refilling; one that never ran a cell
   * goes back to the pool as it is.
   */
  release(sandbox: Sandbox): void {
    const fits = sandbox.effectiveHeapMb === effectiveHeapMb(this.#opts.defaultHeapMb);
    if (!sandbox.used && !sandbox.disposed && fits && this.#ready.length < this.#opts.size) {
      this.#ready.push(sandbox);
      return;
    }
    sandbox.dispose();
    void this.#fillOne();
  }

  /** Starts refilling after a sandbox left for good (kept live by a session). */
  refill(): void {
    void this.#fillOne();
  }

  /** Number of sandboxes ready now. */
  get readyCount(): number {
    return this.#ready.length;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#ready.splice(0)) s.dispose();
  }

  #fillOne(): Promise<void> {
    if (this.#closed || this.#ready.length + this.#inflight.size >= this.#opts.size) return Promise.resolve();
    const filling = this.#create().finally(() => this.#inflight.delete(filling));
    this.#inflight.add(filling);
    return filling;
  }

  async #create(): Promise<void> {
    try {
      const s = await Sandbox.create({ ...this.#opts, heapMb: this.#opts.defaultHeapMb });
      if (this.#closed) s.dispose();
      else this.#ready.push(s);
    } catch {
      // Creation failing (e.g. the process is out of memory) only means the next acquire creates one.
    }
  }
}
