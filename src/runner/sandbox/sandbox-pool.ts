/**
 * Keeps a few sandboxes (isolate + context + prelude) ready for the default heap size, so that
 * creating them (≈ 2 ms each) is off the latency path of a stateless execution.
 */
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
  #filling = 0;
  #closed = false;

  constructor(opts: SandboxPoolOptions) {
    this.#opts = opts;
  }

  /** Starts filling the pool; resolves when it is full. */
  async warm(): Promise<void> {
    await Promise.all(Array.from({ length: this.#opts.size }, () => this.#fillOne()));
  }

  /** A fresh, never-used sandbox with the given heap cap. The caller disposes it. */
  async acquire(heapMb: number): Promise<Sandbox> {
    const wantsDefault = Math.max(8, heapMb) === Math.max(8, this.#opts.defaultHeapMb);
    const ready = wantsDefault ? this.#ready.pop() : undefined;
    if (wantsDefault) void this.#fillOne();
    return ready ?? Sandbox.create({ ...this.#opts, heapMb });
  }

  /** Number of sandboxes ready now. */
  get readyCount(): number {
    return this.#ready.length;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#ready.splice(0)) s.dispose();
  }

  async #fillOne(): Promise<void> {
    if (this.#closed || this.#ready.length + this.#filling >= this.#opts.size) return;
    this.#filling++;
    try {
      const s = await Sandbox.create({ ...this.#opts, heapMb: this.#opts.defaultHeapMb });
      if (this.#closed) s.dispose();
      else this.#ready.push(s);
    } catch {
      // Creation failing (e.g. the process is out of memory) only means the next acquire creates one.
    } finally {
      this.#filling--;
    }
  }
}
