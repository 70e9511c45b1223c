/**
 * The gateway's side of cluster scheduling. Submitting is nothing: the Execution object the store
 * just created is the submission, and the controller picks it up. Cancelling asks the controller
 * through the spec (`spec.cancelRequested: true`, a merge patch; the gateway may patch executions
 * but not their status), then waits a bounded time for the controller to end the execution.
 * Capacity is the cluster's business (ResourceQuota on executions, the controller's queue).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { Mcpv8Error, TERMINAL_STATUSES, type ExecutionRecord, type ExecutionStore } from '../core/index.ts';
import type { ExecutionQueue } from '../gateway/execution-queue.ts';
import { ExecutionApi } from './execution-api.ts';

export interface ClusterExecutionQueueOptions {
  kubeConfig: KubeConfig;
  /** Where records are read (the gateway's KubeExecutionStore). */
  store: ExecutionStore;
  /** Field manager of the cancel patch (default `mcpv8-gateway`). */
  fieldManager?: string;
  /** How long `cancel` waits for the execution to end, ms (default 10 s). */
  cancelWaitMs?: number;
  /** Pause between reads while waiting, ms (default 250). */
  pollMs?: number;
}

export class ClusterExecutionQueue implements ExecutionQueue {
  readonly #api: ExecutionApi;
  readonly #store: ExecutionStore;
  readonly #waitMs: number;
  readonly #pollMs: number;

  constructor(opts: ClusterExecutionQueueOptions) {
    this.#api = new ExecutionApi(opts.kubeConfig, opts.fieldManager ?? 'mcpv8-gateway');
    this.#store = opts.store;
    this.#waitMs = opts.cancelWaitMs ?? 10_000;
    this.#pollMs = opts.pollMs ?? 250;
  }

  assertCapacity(): void {}

  submit(): void {}

  /**
   * Requests cancellation and resolves with the record once it ended, or as it is when the wait
   * runs out (still queued or running: the controller will end it).
   * @throws MCPV8_ERR_EXEC_NOT_FOUND, MCPV8_ERR_EXEC_FINISHED
   */
  async cancel(namespace: string, id: string): Promise<ExecutionRecord> {
    const current = await this.#store.get(namespace, id);
    if (!current) throw new Mcpv8Error('MCPV8_ERR_EXEC_NOT_FOUND', [id]);
    if (TERMINAL_STATUSES.has(current.status)) {
      throw new Mcpv8Error('MCPV8_ERR_EXEC_FINISHED', [id, current.status]);
    }
    const patched = await this.#api.patchSpec(namespace, id, { cancelRequested: true });
    if (!patched) throw new Mcpv8Error('MCPV8_ERR_EXEC_NOT_FOUND', [id]);
    const deadline = Date.now() + this.#waitMs;
    let latest = current;
    for (;;) {
      latest = (await this.#store.get(namespace, id)) ?? latest;
      if (TERMINAL_STATUSES.has(latest.status) || Date.now() >= deadline) return latest;
      await sleep(Math.min(this.#pollMs, Math.max(0, deadline - Date.now())));
    }
  }
}
