/**
 * Embedded-mode scheduling: a bounded FIFO of queued executions, at most `maxConcurrent`
 * running on the RunnerPool, each status change written to the ExecutionStore as a
 * compare-and-set transition (so a cancellation always sticks), console lines to the OutputLog.
 *
 * Several nodes sharing one store (multi-node embedded): each node runs what it accepted and
 * stamps its id on the record (`runner`); it recovers only its own records after a restart, and
 * cancels another node's running execution by asking that node (see {@link SchedulerNode}).
 */
import {
  FailureReason,
  cancelledError,
  endedOutcome,
  failureError,
  Mcpv8Error,
  type ExecutionOutcome,
  type ExecutionRecord,
  type ExecutionStore,
  type HeapTagStore,
  type OutputLog,
  type SessionLog,
  type RunnerPool,
} from '../core/index.ts';
import type { ExecutionEvents } from './execution-events.ts';
import { recordSessionCell } from './session-commit.ts';
import { OutputBuffer } from '../core/index.ts';

export interface ExecutionSchedulerOptions {
  store: ExecutionStore;
  output: OutputLog;
  runners: RunnerPool;
  /** Executions running at once. */
  maxConcurrent: number;
  /** Executions waiting at once; beyond it submit() throws MCPV8_ERR_QUEUE_FULL. */
  maxQueued: number;
  now?: () => Date;
  /** Live console lines and ends, for watchers (MCP logging notifications). */
  events?: ExecutionEvents;
  /**
   * Stateful mode: every run commits a heap when it completes; a named session's cells are logged
   * and requested tags set on the new heap before the execution is reported completed.
   */
  sessions?: { log: SessionLog; tags: HeapTagStore };
  /** Told when executions start and end (metrics). */
  observer?: { observeStart(queuedMs: number): void; observeOutcome(outcome: ExecutionOutcome): void };
  /** Multi-node: this node, when several share the store (absent: the only node). */
  node?: SchedulerNode;
}

/** This node among several sharing one ExecutionStore. */
export interface SchedulerNode {
  /** Written to `record.runner` of what this node runs. */
  id: string;
  /**
   * Asks node `owner` to cancel an execution it runs: `settled` once it has ended there,
   * `not-running` when the owner does not run it, `unreachable` when no node answered.
   */
  cancelRemote(
    owner: string,
    namespace: string,
    id: string,
  ): Promise<'settled' | 'not-running' | 'unreachable'>;
}

interface Queued {
  record: ExecutionRecord;
}

export class ExecutionScheduler {
  readonly #opts: ExecutionSchedulerOptions;
  readonly #queue: Queued[] = [];
  readonly #running = new Map<string, AbortController>();
  readonly #done = new Map<string, Promise<void>>();
  #stopping = false;

  constructor(opts: ExecutionSchedulerOptions) {
    this.#opts = opts;
  }

  /**
   * Fails the executions a previous process left queued or running (their runner is gone), so
   * no record stays "running" forever after a crash or restart. With several nodes, only this
   * node's own: another node's are alive (or that node recovers them when it restarts).
   */
  async recover(): Promise<number> {
    const owner = this.#opts.node?.id;
    const unfinished = (await this.#opts.store.listUnfinished()).filter((r) => r.runner === owner);
    for (const r of unfinished) {
      const error = failureError(
        FailureReason.RunnerCrashed,
        'the server restarted before this execution finished',
      );
      await this.#finish(
        r,
        ['queued', 'running'],
        endedOutcome('failed', error, r.limits.heapMemoryMaxMb, 0),
      );
    }
    return unfinished.length;
  }

  /** Enqueues a record already stored as `queued`. @throws MCPV8_ERR_QUEUE_FULL, _SERVER_SHUTTING_DOWN. */
  submit(record: ExecutionRecord): void {
    if (this.#stopping) throw new Mcpv8Error('MCPV8_ERR_SERVER_SHUTTING_DOWN');
    this.assertCapacity();
    this.#queue.push({ record });
    this.#pump();
  }

  /** Throws MCPV8_ERR_QUEUE_FULL when a new execution could not be queued now. */
  assertCapacity(): void {
    if (this.#queue.length >= this.#opts.maxQueued && this.#running.size >= this.#opts.maxConcurrent) {
      throw new Mcpv8Error('MCPV8_ERR_QUEUE_FULL', [this.#queue.length]);
    }
  }

  /**
   * Cancels a queued or running execution. Resolves with the record as it ends up. Another
   * node's running execution is cancelled by that node; one whose node is gone, here.
   * @throws MCPV8_ERR_EXEC_NOT_FOUND, MCPV8_ERR_EXEC_FINISHED.
   */
  async cancel(namespace: string, id: string): Promise<ExecutionRecord> {
    const current = await this.#opts.store.get(namespace, id);
    if (!current) throw new Mcpv8Error('MCPV8_ERR_EXEC_NOT_FOUND', [id]);
    if (await this.cancelLocal(namespace, id)) return (await this.#opts.store.get(namespace, id)) ?? current;
    const node = this.#opts.node;
    if (node) {
      // Queued on another node: the compare-and-set cancels it there too (its run will not start).
      if (current.status === 'queued') {
        const done = await this.#finish(current, ['queued'], cancelledOutcome(current, 0));
        if (done) return done;
      }
      const latest = await this.#opts.store.get(namespace, id);
      if (latest?.status === 'running') {
        if (latest.runner !== undefined && latest.runner !== node.id) {
          const asked = await node.cancelRemote(latest.runner, namespace, id);
          if (asked === 'settled') return (await this.#opts.store.get(namespace, id)) ?? latest;
        }
        // No node runs it (its node is gone): end it here. Compare-and-set, so a late report
        // of a node that was only unreachable cannot overwrite it.
        const done = await this.#finish(latest, ['running'], cancelledOutcome(latest, 0));
        if (done) return done;
      }
    }
    const latest = (await this.#opts.store.get(namespace, id)) ?? current;
    throw new Mcpv8Error('MCPV8_ERR_EXEC_FINISHED', [id, latest.status]);
  }

  /**
   * Cancels an execution queued or running in this process and resolves once it has settled;
   * false when this process does not hold it.
   */
  async cancelLocal(namespace: string, id: string): Promise<boolean> {
    const i = this.#queue.findIndex((q) => q.record.id === id && q.record.namespace === namespace);
    if (i >= 0) {
      const [{ record }] = this.#queue.splice(i, 1) as [Queued];
      if (await this.#finish(record, ['queued'], cancelledOutcome(record, 0))) return true;
    }
    const running = this.#running.get(key(namespace, id));
    if (!running) return false;
    running.abort();
    await this.#done.get(key(namespace, id));
    return true;
  }

  /** Resolves when the execution is no longer running in this process (for tests and waits). */
  async settled(namespace: string, id: string): Promise<void> {
    await this.#done.get(key(namespace, id));
  }

  stats(): { queued: number; running: number } {
    return { queued: this.#queue.length, running: this.#running.size };
  }

  /** Stops accepting work, cancels what is queued and running, and waits for it to settle. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const q of this.#queue.splice(0))
      await this.#finish(q.record, ['queued'], cancelledOutcome(q.record, 0));
    for (const c of this.#running.values()) c.abort();
    await Promise.all(this.#done.values());
  }

  #pump(): void {
    while (!this.#stopping && this.#running.size < this.#opts.maxConcurrent && this.#queue.length > 0) {
      const { record } = this.#queue.shift()!;
      const abort = new AbortController();
      const k = key(record.namespace, record.id);
      this.#running.set(k, abort);
      const done = this.#run(record, abort).finally(() => {
        this.#running.delete(k);
        this.#done.delete(k);
        this.#pump();
      });
      this.#done.set(k, done);
    }
  }

  async #run(record: ExecutionRecord, abort: AbortController): Promise<void> {
    const now = this.#opts.now ?? (() => new Date());
    const started = await this.#opts.store.transition(record.namespace, record.id, ['queued'], {
      status: 'running',
      startedAt: now().toISOString(),
      ...(this.#opts.node && { runner: this.#opts.node.id }),
    });
    if (!started) return; // cancelled while it waited
    this.#opts.observer?.observeStart(Date.parse(started.startedAt!) - Date.parse(record.createdAt));
    const buffer = new OutputBuffer(this.#opts.output, record.id);
    let outcome: ExecutionOutcome;
    try {
      outcome = await this.#opts.runners.run(
        {
          executionId: record.id,
          code: record.code,
          language: record.language,
          heapMb: record.limits.heapMemoryMaxMb,
          timeoutMs: record.limits.timeoutSeconds * 1000,
          ...(this.#opts.sessions && { persist: true, heap: record.heap }),
        },
        (level, text) => {
          buffer.push(level, text);
          this.#opts.events?.line(record.id, level, text);
        },
        abort.signal,
      );
    } catch (err) {
      const error = failureError(FailureReason.RunnerCrashed, `the runner pool failed: ${String(err)}`);
      outcome = endedOutcome('failed', error, record.limits.heapMemoryMaxMb, 0);
    }
    if (outcome.heap !== undefined && this.#opts.sessions) {
      const now = this.#opts.now?.() ?? new Date();
      outcome = await recordSessionCell(this.#opts.sessions, record, outcome, outcome.heap, now);
    }
    // Every line is stored before the status says the execution is over.
    await buffer.flush();
    this.#opts.observer?.observeOutcome(outcome);
    await this.#finish(started, ['running'], outcome);
  }

  async #finish(
    record: ExecutionRecord,
    from: readonly ExecutionRecord['status'][],
    outcome: ExecutionOutcome,
  ): Promise<ExecutionRecord | undefined> {
    const now = this.#opts.now ?? (() => new Date());
    const finished = await this.#opts.store.transition(record.namespace, record.id, from, {
      status: outcome.status,
      completedAt: now().toISOString(),
      outcome,
    });
    if (finished) this.#opts.events?.end(record.id, finished.status);
    return finished;
  }
}

function key(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}

function cancelledOutcome(record: ExecutionRecord, durationMs: number): ExecutionOutcome {
  return endedOutcome('cancelled', cancelledError(), record.limits.heapMemoryMaxMb, durationMs);
}
