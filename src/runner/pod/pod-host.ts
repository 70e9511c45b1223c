/**
 * The host of the runner in a pod (see runner-host.ts): its console lines go to the tenant's
 * JetStream output log, the chains it replays come from the tenant's heap store and the heaps it
 * produces are stored there, and each outcome is published durably once every line is stored and
 * the heap committed. Ready and heartbeats go to the pool on the runner's `.out` subject.
 */
import type { ExecutionOutcome, HeapId, HeapNode, OutputLine } from '../../core/index.ts';
import type { ChainAnswer } from '../../core/heap-commit.ts';
import type { StoredOutcome } from '../../cluster/outcome-stream.ts';
import type { PodRunMessage, RunnerOutMessage } from '../../cluster/runner-subjects.ts';
import type { RunnerHeartbeat, RunnerHost } from '../runner-host.ts';
import type { ClusterHeaps } from './heap-side.ts';
import type { TenantOutputLogs } from './output-sink.ts';
import { podResidentBytes } from './cgroup-memory.ts';

export interface PodHostDeps {
  runnerId: string;
  outputs: Pick<TenantOutputLogs, 'append'>;
  heaps: Pick<ClusterHeaps, 'chainAnswer' | 'commit'>;
  /** Durable publication (OutcomePublisher.publish); never rejects. */
  publish: (namespace: string, msg: StoredOutcome) => Promise<unknown>;
  /** Sends a message to the pool on the runner's `.out` subject (and announces the runner). */
  report: (msg: RunnerOutMessage) => void;
  /** The run is over: its outcome has been published (or given up on). */
  onDone: (executionId: string) => void;
}

export class PodHost implements RunnerHost<PodRunMessage> {
  readonly #deps: PodHostDeps;

  /** The pod's kill line is its cgroup's limit: measure what the cgroup is charged. */
  readonly #resident = podResidentBytes();

  constructor(deps: PodHostDeps) {
    this.#deps = deps;
  }

  ready(pid: number): void {
    this.#deps.report({ type: 'ready', pid });
  }

  heartbeat(beat: RunnerHeartbeat): void {
    this.#deps.report({ type: 'heartbeat', ...beat });
  }

  residentBytes(): number {
    return this.#resident();
  }

  output(run: PodRunMessage, lines: readonly OutputLine[]): Promise<void> {
    return this.#deps.outputs.append(run.execution, lines);
  }

  async chain(run: PodRunMessage, heap: HeapId): Promise<ChainAnswer> {
    // Only the heap the run was admitted for: anything else would skip the namespace check.
    if (heap !== run.heap) return { error: { code: 'MCPV8_ERR_HEAP_NOT_FOUND', message: `no heap ${heap}` } };
    return this.#deps.heaps.chainAnswer(run.execution.namespace, heap);
  }

  /** Also ends runs the runner never got (refused, cancelled before they started). */
  outcome(run: PodRunMessage, outcome: ExecutionOutcome, heapNode?: HeapNode): void {
    void this.#finish(run, outcome, heapNode)
      .catch((err: unknown) => process.emitWarning(`outcome of ${run.executionId} lost: ${String(err)}`))
      .finally(() => this.#deps.onDone(run.executionId));
  }

  /** Stores the heap, then publishes the outcome. */
  async #finish(
    run: PodRunMessage,
    outcome: ExecutionOutcome,
    heapNode: HeapNode | undefined,
  ): Promise<void> {
    const { namespace } = run.execution;
    const final =
      outcome.heap === undefined
        ? { outcome }
        : await this.#deps.heaps.commit(run, namespace, outcome, heapNode);
    await this.#deps.publish(namespace, {
      type: 'outcome',
      executionId: run.executionId,
      runnerId: this.#deps.runnerId,
      outcome: final.outcome,
      ...('heapCommitted' in final && final.heapCommitted && { heapCommitted: true }),
    });
  }
}
