/**
 * The runner's last line before its supervisor's RSS kill. Memory a running cell holds outside
 * its V8 heap (WebAssembly memories a module keeps to itself, say) is not under the isolate's
 * cap, and a running isolate cannot be measured without waiting for it. So when the process's
 * resident size stays above the guard after every idle isolate has been let go, the running cell
 * that has used the most CPU since it began — filling memory takes CPU; a cell waiting on I/O
 * fills nothing — is stopped by disposing its isolate. It ends `OutOfMemory`; the other cells
 * running beside it (another tenant's, say) and the sessions kept here go on. One cell at a time:
 * the next is stopped only if the process is still over once the first has ended and its memory
 * had a check to show up as freed.
 */
import type { Sandbox } from './sandbox/sandbox.ts';

export interface RunningMemoryGuardOptions {
  /** Resident size (bytes) above which a running cell is stopped; 0 turns the guard off. */
  maxRssBytes: number;
  /** Lets go of idle memory first (the live-heap cache's `relieve`). */
  relieve: () => void;
  /** How often the resident size is read while cells run. */
  intervalMs?: number;
  /** The process's resident size (injectable for tests). */
  rss?: () => number;
  /** CPU time (ns) the sandbox's isolate has used so far (injectable for tests). */
  cpuTime?: (sandbox: Sandbox) => number;
}

export class RunningMemoryGuard {
  readonly #opts: RunningMemoryGuardOptions;
  /** Running sandboxes and their isolate's CPU time when the cell began. */
  readonly #running = new Map<Sandbox, number>();
  /** The sandbox stopped last, until its cell has ended and one check has passed since. */
  #settling: Sandbox | undefined;
  #settled = false;
  /** Sandboxes the guard stopped (so whatever their cell meets next is named OutOfMemory). */
  readonly #stoppedSandboxes = new WeakSet<Sandbox>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = 0;

  constructor(opts: RunningMemoryGuardOptions) {
    this.#opts = opts;
  }

  /** A cell starts running in `sandbox`; call {@link end} when it is done. */
  begin(sandbox: Sandbox): void {
    if (this.#opts.maxRssBytes <= 0) return;
    this.#running.set(sandbox, this.#cpuTime(sandbox));
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

  /** Whether the guard stopped `sandbox`'s cell: it ended for memory, whatever it met then. */
  stoppedCell(sandbox: Sandbox): boolean {
    return this.#stoppedSandboxes.has(sandbox);
  }

  /** Stops the likeliest culprit if the process is over its guard with nothing idle left to free. */
  check(): void {
    if (this.#settling) {
      // Its memory is freed when its cell has unwound; give that one check to show.
      if (this.#running.has(this.#settling)) return;
      if (!this.#settled) {
        this.#settled = true;
        return;
      }
      this.#settling = undefined;
    }
    const rss = this.#opts.rss ?? (() => process.memoryUsage.rss());
    if (rss() <= this.#opts.maxRssBytes) return;
    this.#opts.relieve();
    if (rss() <= this.#opts.maxRssBytes) return;
    const culprit = this.#culprit();
    if (!culprit) return;
    culprit.dispose();
    this.#stoppedSandboxes.add(culprit);
    this.#stopped++;
    this.#settling = culprit;
    this.#settled = false;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#running.clear();
    this.#settling = undefined;
  }

  /** The running sandbox that used the most CPU since its cell began (the earliest on a tie). */
  #culprit(): Sandbox | undefined {
    let culprit: Sandbox | undefined;
    let most = -1;
    for (const [sandbox, startCpu] of this.#running) {
      if (sandbox.disposed) continue;
      const used = this.#cpuTime(sandbox) - startCpu;
      if (used > most) {
        most = used;
        culprit = sandbox;
      }
    }
    return culprit;
  }

  #cpuTime(sandbox: Sandbox): number {
    if (this.#opts.cpuTime) return this.#opts.cpuTime(sandbox);
    return sandbox.disposed ? 0 : Number(sandbox.host.isolate.cpuTime);
  }
}
