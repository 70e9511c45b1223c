/**
 * One V8 isolate that sandboxes live in, created from the prelude snapshot so each new context
 * comes with the prelude installed. A session's sandbox owns its isolate alone; stateless cells
 * of one tenant may take turns in one isolate, each in a fresh context (see SandboxPool).
 */
import ivm from 'isolated-vm';
import { effectiveHeapMb as effectiveHeapMbOf } from '../../core/index.ts';
import type { PreludeOptions } from './prelude.ts';
import { preludeSnapshot } from './prelude-snapshot.ts';

export interface SandboxIsolateOptions {
  /** Requested heap cap in MiB; raised to the minimum when lower (see `effectiveHeapMb`). */
  heapMb: number;
  prelude: PreludeOptions;
  /** Called when V8 loses control of the isolate; the process must not go on serving. */
  onCatastrophicError?: (message: string) => void;
}

export class SandboxIsolate {
  readonly isolate: ivm.Isolate;
  readonly effectiveHeapMb: number;
  /**
   * The tenant whose stateless cells take turns here; undefined while the isolate is fresh. Set
   * once, so an isolate never serves two tenants.
   */
  tenant: string | undefined;
  /** Cells that ran in this isolate (across its contexts). */
  cellsRun = 0;

  constructor(opts: SandboxIsolateOptions) {
    this.effectiveHeapMb = effectiveHeapMbOf(opts.heapMb);
    this.isolate = new ivm.Isolate({
      memoryLimit: this.effectiveHeapMb,
      snapshot: preludeSnapshot(opts.prelude),
      onCatastrophicError: (message: string) => opts.onCatastrophicError?.(message),
    });
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /**
   * Bytes the isolate costs the process as far as isolated-vm can tell: its committed V8 heap
   * plus the ArrayBuffers allocated through isolated-vm's allocator (outside the heap, but under
   * the heap cap). WebAssembly memories and resizable buffers are not in it: see
   * Sandbox.offHeapBytes.
   */
  memoryBytes(): number {
    if (this.disposed) return 0;
    const stats = this.isolate.getHeapStatisticsSync();
    return stats.total_heap_size + stats.externally_allocated_size;
  }

  /** Like {@link memoryBytes} with the heap in use (live objects plus garbage not yet collected) instead of committed. */
  usedMemoryBytes(): number {
    if (this.disposed) return 0;
    const stats = this.isolate.getHeapStatisticsSync();
    return stats.used_heap_size + stats.externally_allocated_size;
  }

  /** Stops whatever runs in the isolate and frees it; every context in it dies with it. */
  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }
}
