/**
 * What a RunnerProcess needs from where it runs: where its reports go and where heaps come from.
 * Two hosts, one runner:
 * - a local child process (ipc-runner-host.ts): everything goes to the supervising parent over
 *   IPC, which stores output and heaps itself;
 * - a runner pod (pod/pod-host.ts): output goes to the tenant's JetStream output log, heaps are
 *   loaded from and stored in the tenant's S3 prefix, outcomes are published durably.
 */
import type { ExecutionOutcome, HeapId, HeapNode, OutputLine } from '../core/index.ts';
import type { ChainAnswer } from '../core/heap-commit.ts';
import type { RunMessage } from './protocol.ts';

/** The runner's periodic report. */
export interface RunnerHeartbeat {
  /** The runner's memory now, as its host measures it (RunnerHost.residentBytes). */
  rssBytes: number;
  /** Executions it runs now. */
  running: number;
  /**
   * The resident size it keeps itself under (its `liveHeapRssBytes`: live isolates go, then the
   * running cell that fills memory is stopped); 0: no budget. A pool recycles a runner that stays
   * above it, as the memory is then not the cells' to give back.
   */
  rssBudgetBytes: number;
}

/** Where one runner's work comes from and goes; `R` is the run message its host hands it. */
export interface RunnerHost<R extends RunMessage = RunMessage> {
  /** The runner has warmed its sandboxes and takes runs. */
  ready(pid: number): void;
  /** Sent every `heartbeatIntervalMs` while the runner lives. */
  heartbeat(beat: RunnerHeartbeat): void;
  /** Stores a batch of `run`'s console lines, in order; resolves once stored (rejects: lost). */
  output(run: R, lines: readonly OutputLine[]): Promise<void>;
  /** The chain of `heap` (root first) for `run` to replay, or why there is none; never rejects. */
  chain(run: R, heap: HeapId): Promise<ChainAnswer>;
  /**
   * `run` ended, every line of its output stored. A completed stateful run brings `heapNode`, the
   * journal node of the heap `outcome.heap` names, for the host to store before it reports.
   */
  outcome(run: R, outcome: ExecutionOutcome, heapNode?: HeapNode): void;
  /**
   * The memory the runner is held to, in bytes, measured as its hard line measures it: process RSS
   * under a local supervisor (which kills on RSS), the container's cgroup working set in a pod
   * (the kernel kills on that). The runner's own memory guards and heartbeats use it.
   */
  residentBytes(): number;
}
