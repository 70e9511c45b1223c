/**
 * What a RunnerPool's runner pods need at least, computed from the pool's spec alone. The CRD
 * checks these floors at admission (CEL rules, runner-pool-crd.ts), the controller checks them
 * again before it builds a pod (a pool stored before the rule existed) and derives a limit the
 * template leaves out from the same numbers (src/controller/runner-pool/runner-pod-resources.ts).
 */
import type { RunnerPoolSpec } from './runner-pool-types.ts';

/**
 * Memory a runner pod needs besides its isolate heaps, MiB, as its memory cgroup is charged (what
 * the kernel's limit counts; `npm run bench:pod-memory`, bench/results/pod-memory.md): the runner
 * image on a real kubelet sits at ~21 MiB idle, and a cell holding 57 MiB of its 64 MiB heap peaks
 * at ~101 MiB — ~44 MiB of runtime beside the heap. Process RSS says ~69 MiB idle, but most of it
 * is the Node binary's file pages, charged to containerd when it unpacked the image. 128 MiB leaves
 * room for a TypeScript transform worker, module loading, the S3 client and output buffers, and
 * keeps the runner's own guard (3/4 of the limit, on the same cgroup charge) above a full heap.
 */
export const RUNTIME_OVERHEAD_MIB = 128;

/** Executions a runner pod runs at once (the runner takes one cell at a time). */
export const CONCURRENT_EXECUTIONS_PER_POD = 1;

/** Live isolates a pooled runner pod keeps (each budgeted at the pool's heap cap). */
export const POOLED_LIVE_HEAPS = 2;

/**
 * Least CPU limit of a runner pod, millicores. A runner takes ~0.5 CPU-seconds to start (Node,
 * isolated-vm and one warm isolate, measured): at a tenth of a core that is ~5 s before it can
 * take work, and much less than that makes a pool whose pods never seem to come up.
 */
export const CPU_FLOOR_MILLICORES = 100;

/** The parts of a pool's spec the floors depend on. */
export type RunnerPodSizing = Pick<RunnerPoolSpec, 'executionsPerPod' | 'isolate'>;

/**
 * Isolates a pod keeps live after their cell (so the next cell of a session routed to it resumes
 * without replay): pooled pods keep {@link POOLED_LIVE_HEAPS}, a per-execution pod none.
 */
export function liveHeapsPerPod(executionsPerPod: number): number {
  return executionsPerPod > 1 ? POOLED_LIVE_HEAPS : 0;
}

/**
 * The least memory limit of a pool's runner container, MiB: the running isolate and every live
 * one at the pool's heap cap, plus the runtime —
 * `maxHeapMb × (CONCURRENT_EXECUTIONS_PER_POD + live heaps) + RUNTIME_OVERHEAD_MIB`.
 */
export function memoryFloorMib(spec: RunnerPodSizing): number {
  const isolates = CONCURRENT_EXECUTIONS_PER_POD + liveHeapsPerPod(spec.executionsPerPod);
  return spec.isolate.maxHeapMb * isolates + RUNTIME_OVERHEAD_MIB;
}

/** {@link memoryFloorMib} as a CEL expression over a RunnerPool spec (`self`), for the CRD. */
export function memoryFloorMibCel(): string {
  const pooled = CONCURRENT_EXECUTIONS_PER_POD + POOLED_LIVE_HEAPS;
  return `(self.isolate.maxHeapMb * (self.executionsPerPod > 1 ? ${pooled} : ${CONCURRENT_EXECUTIONS_PER_POD}) + ${RUNTIME_OVERHEAD_MIB})`;
}
