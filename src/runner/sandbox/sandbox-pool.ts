/**
 * Keeps sandboxes ready so that creating them is off the latency path of an execution, and lets
 * the stateless cells of one tenant take turns in one isolate.
 *
 * Two kinds of sandbox come out of it:
 *   - fresh ones, in an isolate of their own that never ran anything: what a session starts in
 *     (its isolate will hold its heap) — {@link acquire};
 *   - stateless ones — {@link acquireStateless}: a new context in an isolate that earlier
 *     stateless cells of the same tenant (and heap cap) ran in. Every cell gets a fresh context
 *     with a fresh prelude, so no global, prototype or closure of an earlier cell is reachable;
 *     what contexts of one isolate share is the heap cap and the CPU. That is why an isolate is
 *     never shared between tenants, is replaced after `cellsPerIsolate` cells or when a cell leaves
 *     its heap three quarters full, and is disposed outright after a timeout, cancellation or OOM.
 *     Creating an isolate costs ≈ 3 ms of CPU, a context from the prelude snapshot ≈ 1 ms.
 */
import { effectiveHeapMb } from '../../core/index.ts';
import { Sandbox, type SandboxOptions } from './sandbox.ts';
import type { SandboxIsolate } from './sandbox-isolate.ts';

export { DEFAULT_CELLS_PER_ISOLATE, DEFAULT_MAX_IDLE_ISOLATES } from './isolate-reuse.ts';

export interface SandboxPoolOptions extends Omit<SandboxOptions, 'heapMb'> {
  /** Heap cap of the pre-created sandboxes; other sizes are created on demand. */
  defaultHeapMb: number;
  /** How many fresh sandboxes to keep ready. 0 disables pre-creation. */
  size: number;
  /** Stateless cells one isolate serves, each in a new context, before it is replaced (1: one isolate per cell). */
  cellsPerIsolate: number;
  /** Idle reusable isolates kept (across tenants and heap caps); the least recently used beyond it goes. */
  maxIdleIsolates: number;
}

interface Reopening {
  key: string;
  sandbox: Promise<Sandbox | undefined>;
}

export class SandboxPool {
  readonly #opts: SandboxPoolOptions;
  readonly #ready: Sandbox[] = [];
  readonly #inflight = new Set<Promise<void>>();
  /** Unused sandboxes in isolates that stateless cells reuse, least recently used first. */
  readonly #recycled: Sandbox[] = [];
  readonly #reopening: Reopening[] = [];
  #closed = false;

  constructor(opts: SandboxPoolOptions) {
    this.#opts = opts;
  }

  /** Fills the pool; resolves when it is full and no creation is in flight. */
  async warm(): Promise<void> {
    await Promise.all([...Array.from({ length: this.#opts.size }, () => this.#fillOne()), ...this.#inflight]);
  }

  /**
   * A fresh, never-used sandbox with the given heap cap, in an isolate of its own. Give it back
   * with {@link release}, which disposes it and refills the pool: refilling after the execution,
   * not during it, keeps sandbox creation off the execution's latency.
   */
  async acquire(heapMb: number): Promise<Sandbox> {
    const wantsDefault = effectiveHeapMb(heapMb) === effectiveHeapMb(this.#opts.defaultHeapMb);
    const ready = wantsDefault ? this.#ready.pop() : undefined;
    return ready ?? Sandbox.create({ ...this.#opts, heapMb });
  }

  /**
   * A never-used sandbox for a stateless cell of `tenant`: a new context in an isolate this
   * tenant's stateless cells used before when one is idle, else a fresh one that becomes this
   * tenant's. Give it back with {@link release}.
   */
  async acquireStateless(heapMb: number, tenant: string): Promise<Sandbox> {
    if (this.#opts.cellsPerIsolate <= 1) return this.acquire(heapMb);
    const key = isolateKey(tenant, effectiveHeapMb(heapMb));
    const i = this.#recycled.findLastIndex((s) => keyOf(s.host) === key && !s.disposed);
    if (i >= 0) return this.#recycled.splice(i, 1)[0]!;
    // Its isolate's next context is on its way: waiting for it (≈ 1 ms) beats a new isolate.
    const reopening = this.#reopening.find((r) => r.key === key);
    if (reopening) {
      const sandbox = await reopening.sandbox;
      const j = sandbox ? this.#recycled.indexOf(sandbox) : -1;
      if (j >= 0) return this.#recycled.splice(j, 1)[0]!;
    }
    const sandbox = await this.acquire(heapMb);
    sandbox.host.tenant = tenant;
    return sandbox;
  }

  /**
   * Takes back a sandbox acquired from this pool. One that never ran a cell goes back as it is;
   * a stateless one's isolate gets a new context for the tenant's next cell while it may be
   * reused; any other is disposed and the pool refilled.
   */
  release(sandbox: Sandbox): void {
    const host = sandbox.host;
    const fits = sandbox.effectiveHeapMb === effectiveHeapMb(this.#opts.defaultHeapMb);
    const unused = !sandbox.used && !sandbox.disposed && host.tenant === undefined;
    if (unused && fits && this.#ready.length < this.#opts.size) return void this.#ready.push(sandbox);
    if (!this.#closed && host.tenant !== undefined && !sandbox.disposed && this.#reusable(sandbox)) {
      sandbox.retire();
      this.#reopen(host);
    } else sandbox.dispose();
    void this.#fillOne();
  }

  /** Starts refilling after a sandbox left for good (kept live by a session). */
  refill(): void {
    void this.#fillOne();
  }

  /** Number of fresh sandboxes ready now. */
  get readyCount(): number {
    return this.#ready.length;
  }

  close(): void {
    this.#closed = true;
    for (const s of [...this.#ready.splice(0), ...this.#recycled.splice(0)]) s.dispose();
  }

  #reusable(sandbox: Sandbox): boolean {
    const host = sandbox.host;
    if (host.cellsRun >= this.#opts.cellsPerIsolate) return false;
    // Retired contexts are garbage until V8 collects them (≈ 0.2 MiB each; it does so well before
    // the cap), so only a heap three quarters full after a cell sends the isolate away: then a
    // cell allocated that much, or something outlived its cell, and a fresh isolate is cheaper
    // than the next cell finding less than its cap. WebAssembly memories and resizable buffers
    // count too: they live outside the heap, and an idle isolate that collects no garbage would
    // hold them for as long as it waits (disposing frees them at once). The probe costs ≈ 15 µs.
    try {
      return host.usedMemoryBytes() + sandbox.offHeapBytes() <= host.effectiveHeapMb * 1024 * 1024 * 0.75;
    } catch {
      return false;
    }
  }

  #reopen(host: SandboxIsolate): void {
    const entry: Reopening = { key: keyOf(host), sandbox: Promise.resolve(undefined) };
    entry.sandbox = Sandbox.open(host, this.#opts)
      .then((sandbox) => {
        if (this.#closed || host.disposed) {
          sandbox.dispose();
          return undefined;
        }
        this.#recycled.push(sandbox);
        if (this.#recycled.length > this.#opts.maxIdleIsolates) this.#recycled.shift()!.dispose();
        return sandbox;
      })
      .catch(() => {
        host.dispose();
        return undefined;
      })
      .finally(() => this.#reopening.splice(this.#reopening.indexOf(entry), 1));
    this.#reopening.push(entry);
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

function isolateKey(tenant: string, heapMb: number): string {
  return `${heapMb}\0${tenant}`;
}

function keyOf(host: SandboxIsolate): string {
  return isolateKey(host.tenant ?? '', host.effectiveHeapMb);
}
