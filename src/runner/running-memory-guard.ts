/**
 * The runner's last line before its supervisor's RSS kill. Memory a running cell holds outside
 * its V8 heap (WebAssembly memories a module keeps to itself, say) is not under the isolate's
 * cap, and a running isolate cannot be measured without waiting for it. So when the process's
 * resident size stays above the guard after every live isolate has been let go, the cells running
 * here are stopped by disposing their isolates: they end `OutOfMemory`, and the runner, with the
 * sessions it keeps, serves on — instead of every execution on it failing with the process.
 */
import type { Sandbox } from './sandbox/sandbox.ts';

export interface RunningMemoryGuardOptions {
  /** Resident size (bytes) above which running cells are stopped; 0 turns the guard off. */
  maxRssBytes: number;
  /** Lets go of idle memory first (the live-heap cache's `relieve`). */
  relieve: () => void;
  /** How often the resident size is read while cells run. */
  intervalMs?: number;
  /** The process's resident size (injectable for tests). */
  rss?: () => number;
}

export class RunningMemoryGuard {
  readonly #opts: RunningMemoryGuardOptions;
  readonly #running = new Set<Sandbox>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = 0;

  constructor(opts: RunningMemoryGuardOptions) {
    this.#opts = opts;
  }

  /** A cell starts running in `sandbox`; call {@link end} when it is done. */
  begin(sandbox: Sandbox): void {
    if (this.#opts.maxRssBytes <= 0) return;
    this.#running.add(sandbox);
    // Often: memory a cell fills grows fast, and the supervisor reads the same number.
    this.#timer ??= setInterval(() => this.check(), this.#opts.intervalMs ?? 20);
    this.#timer.unref();
  }

  end(sandbox: Sandbox): void {
    this.#running.delete(sandbox);
    if (this.#running.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Cells stopped by the guard so far. */
  get stopped(): number {
    return this.#stopped;
  }

  /** Stops the running cells if the process is over its guard with nothing idle left to free. */
  check(): void {
    const rss = this.#opts.rss ?? (() => process.memoryUsage.rss());
    if (rss() <= this.#opts.maxRssBytes) return;
    this.#opts.relieve();
    if (rss() <= this.#opts.maxRssBytes) return;
    for (const sandbox of this.#running) {
      if (sandbox.disposed) continue;
      sandbox.dispose();
      this.#stopped++;
    }
    this.#running.clear();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#running.clear();
  }
}
