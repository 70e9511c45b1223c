/**
 * What the ExecutionService needs from whatever runs executions: embedded mode's in-process
 * ExecutionScheduler matches it as it is; cluster mode's ClusterExecutionQueue hands the work to
 * the controller through the Execution objects.
 */
import type { ExecutionRecord } from '../core/index.ts';

export interface ExecutionQueue {
  /** Throws MCPV8_ERR_QUEUE_FULL when a new execution could not be accepted now. */
  assertCapacity(): void;
  /** Queues a record the store has just created. */
  submit(record: ExecutionRecord): void;
  /**
   * Cancels a queued or running execution; resolves with the record as it ends up.
   * @throws MCPV8_ERR_EXEC_NOT_FOUND, MCPV8_ERR_EXEC_FINISHED
   */
  cancel(namespace: string, id: string): Promise<ExecutionRecord>;
}
