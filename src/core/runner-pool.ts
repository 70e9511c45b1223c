/**
 * RunnerPool: where executions actually run. The local implementation supervises child
 * processes; the cluster one dispatches to runner pods. Either way user code never runs in the
 * caller's process.
 */
import type { CellLanguage, ExecutionOutcome, OutputLevel } from './api/execution.ts';
import type { HeapId } from './api/heap-id.ts';

export interface RunRequest {
  executionId: string;
  code: string;
  language: CellLanguage;
  /** Requested isolate heap cap, MiB (4–64; below 8 is raised to 8). */
  heapMb: number;
  timeoutMs: number;
  /** Resume from this heap; the pool rebuilds it (live isolate or replay) before the cell runs. */
  heap?: HeapId;
  /**
   * Stateful: when the cell completes, its heap is committed to the pool's HeapStore before
   * `run` resolves, and the outcome carries its id in `heap`.
   */
  persist?: boolean;
  /**
   * Cluster: the Execution this run is. The runner then writes its console lines to the output
   * log itself (JetStream, under this namespace and name), keeps its heaps under the namespace,
   * and publishes its outcome durably; absent, lines and heaps go back to the pool.
   */
  execution?: { namespace: string; name: string };
  /**
   * Cluster, with an egress broker: the run's egress capability (cluster/egress-token.ts), minted
   * by the controller; the runner pod presents it to the broker for the run's requests.
   */
  egressToken?: string;
}

/** Snapshot of a pool's state, for metrics and readiness. */
export interface RunnerPoolStats {
  runners: number;
  ready: number;
  busy: number;
  waiting: number;
  restarts: number;
}

export interface RunnerPool {
  /**
   * Runs one execution to its end and resolves with its outcome; never rejects for anything the
   * user's code does (crashes, OOM, timeouts become outcomes). Aborting `signal` cancels it: the
   * outcome is then `cancelled`, within 50 ms when the runner cooperates and ~1 s when it must be
   * killed. Safe to call concurrently; calls beyond the pool's capacity wait in FIFO order.
   */
  run(
    req: RunRequest,
    onOutput: (level: OutputLevel, text: string) => void,
    signal: AbortSignal,
  ): Promise<ExecutionOutcome>;
  stats(): RunnerPoolStats;
  /** Stops every runner; executions still running end as failed/RunnerCrashed. */
  close(): Promise<void>;
}

/** Why a runner gets no more work: it ran all its runs, or it stayed over its memory budget. */
export type RunnerRetirement = 'used-up' | 'over-memory';
