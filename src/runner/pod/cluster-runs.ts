/**
 * Cluster runs (run messages carrying `execution`) between the NATS subjects and the
 * RunnerProcess: their console lines go to the tenant's output log, their chain requests are
 * answered and their heaps stored by the pod itself, and their outcome is published durably once
 * every line is stored and the heap committed. Runs without `execution` never come here.
 */
import {
  FailureReason,
  cancelledError,
  endedOutcome,
  failureError,
  type ExecutionOutcome,
  type HeapNode,
} from '../../core/index.ts';
import type { StoredOutcome } from '../../cluster/outcome-stream.ts';
import type { ParentMessage, RunMessage, RunnerMessage } from '../protocol.ts';
import type { ClusterHeaps } from './heap-side.ts';
import type { ClusterOutputSink } from './output-sink.ts';

export interface ClusterRunsDeps {
  runnerId: string;
  sink: ClusterOutputSink;
  heaps: ClusterHeaps;
  /** Durable publication (OutcomePublisher.publish). */
  publish: (namespace: string, msg: StoredOutcome) => Promise<unknown>;
  /** Hands a message to the RunnerProcess. */
  toRunner: (msg: ParentMessage) => void;
  /** The run is over: its outcome has been published (or given up on). */
  onDone: (executionId: string) => void;
}

type ClusterRunMessage = RunMessage & { execution: NonNullable<RunMessage['execution']> };

interface Entry {
  run: ClusterRunMessage;
  /** Handed to the runner (before that, checks are still running). */
  started: boolean;
  cancelled: boolean;
  startedAt: number;
}

export class ClusterRuns {
  readonly #deps: ClusterRunsDeps;
  readonly #runs = new Map<string, Entry>();

  constructor(deps: ClusterRunsDeps) {
    this.#deps = deps;
  }

  /** Whether `run` is a cluster run (handled here). */
  static isCluster(run: RunMessage): run is ClusterRunMessage {
    return run.execution !== undefined;
  }

  /** Takes a cluster run: checks it may run as asked, then hands it to the runner. */
  start(run: ClusterRunMessage): void {
    if (this.#runs.has(run.executionId)) return; // a resent run message: it is already under way
    const entry: Entry = { run, started: false, cancelled: false, startedAt: Date.now() };
    this.#runs.set(run.executionId, entry);
    this.#deps.sink.begin(run.executionId, run.execution.namespace, run.execution.name);
    const checked = this.#deps.heaps
      .refusal(run, run.execution.namespace)
      .catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    void checked.then((refusal) => {
      if (entry.cancelled) this.#end(entry, endedOutcome('cancelled', cancelledError(), run.heapMb, 0));
      else if (refusal !== undefined) {
        const error = failureError(FailureReason.HeapError, refusal);
        this.#end(entry, endedOutcome('failed', error, run.heapMb, Date.now() - entry.startedAt));
      } else {
        entry.started = true;
        this.#deps.toRunner(run);
      }
    });
  }

  /** A run never started (the pod drains): its refusal is published durably all the same. */
  refuse(run: ClusterRunMessage, outcome: ExecutionOutcome): void {
    if (this.#runs.has(run.executionId)) return;
    const entry: Entry = { run, started: false, cancelled: false, startedAt: Date.now() };
    this.#runs.set(run.executionId, entry);
    this.#end(entry, outcome);
  }

  /** Notes a cancel of a run still being checked (the runner does not know it yet). */
  cancel(executionId: string): void {
    const entry = this.#runs.get(executionId);
    if (entry && !entry.started) entry.cancelled = true;
  }

  /** Takes the runner's messages about cluster runs; false for anything else (sent as before). */
  fromRunner(msg: RunnerMessage): boolean {
    switch (msg.type) {
      case 'output':
        return this.#deps.sink.push(msg.executionId, msg.level, msg.text);
      case 'chain-request': {
        const entry = this.#runs.get(msg.executionId);
        if (!entry) return false;
        void this.#answerChain(entry, msg.heap);
        return true;
      }
      case 'outcome': {
        const entry = this.#runs.get(msg.executionId);
        if (!entry) return false;
        this.#end(entry, msg.outcome, msg.heapNode);
        return true;
      }
      default:
        return false;
    }
  }

  async #answerChain(entry: Entry, heap: string): Promise<void> {
    const { run } = entry;
    // Only the heap the run was checked for: anything else would skip the namespace check.
    const answer =
      heap === run.heap
        ? await this.#deps.heaps.chainAnswer(run.execution.namespace, heap)
        : { error: { code: 'MCPV8_ERR_HEAP_NOT_FOUND', message: `no heap ${heap}` } };
    this.#deps.toRunner({ type: 'chain', executionId: run.executionId, ...answer });
  }

  /** Stores the output and the heap, then publishes the outcome; never rejects. */
  #end(entry: Entry, outcome: ExecutionOutcome, heapNode?: HeapNode): void {
    const { run } = entry;
    const { namespace } = run.execution;
    const finish = async () => {
      const [, final] = await Promise.all([
        this.#deps.sink.end(run.executionId),
        outcome.heap === undefined ? { outcome } : this.#deps.heaps.commit(run, namespace, outcome, heapNode),
      ]);
      await this.#deps.publish(namespace, {
        type: 'outcome',
        executionId: run.executionId,
        runnerId: this.#deps.runnerId,
        outcome: final.outcome,
        ...('heapCommitted' in final && final.heapCommitted && { heapCommitted: true }),
      });
    };
    void finish()
      .catch((err: unknown) => process.emitWarning(`outcome of ${run.executionId} lost: ${String(err)}`))
      .finally(() => {
        this.#runs.delete(run.executionId);
        this.#deps.onDone(run.executionId);
      });
  }
}
