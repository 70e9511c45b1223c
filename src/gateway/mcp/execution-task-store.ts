/**
 * MCP tasks (spec 2025-11-25, the SDK's experimental API) backed by executions: a `run_js`
 * call made as a task creates an execution whose id is the task id, and every task query
 * (tasks/get, tasks/result, tasks/list, tasks/cancel) reads or changes that execution. The
 * execution store stays the single truth; nothing is kept twice.
 */
import type { TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import {
  ErrorCode,
  McpError,
  RELATED_TASK_META_KEY,
  type Result,
  type Task,
} from '@modelcontextprotocol/sdk/types.js';
import {
  isMcpv8Error,
  TERMINAL_STATUSES,
  type ExecutionRecord,
  type ExecutionStatus,
} from '../../core/index.ts';
import type { ExecutionService } from '../execution-service.ts';
import { toExecutionView } from '../execution-view.ts';
import { toolOk } from './tool-result.ts';

/** How often a client is told to poll a task, ms. */
export const TASK_POLL_INTERVAL_MS = 250;

const TASK_STATUS: Record<ExecutionStatus, Task['status']> = {
  queued: 'working',
  running: 'working',
  completed: 'completed',
  failed: 'failed',
  timed_out: 'failed',
  cancelled: 'cancelled',
};

export class ExecutionTaskStore implements TaskStore {
  readonly #service: ExecutionService;
  readonly #namespace: string;

  constructor(service: ExecutionService, namespace: string) {
    this.#service = service;
    this.#namespace = namespace;
  }

  /** Tasks are created by run_js itself (see {@link taskOf}); the SDK's generic path is not used. */
  createTask(): Promise<Task> {
    return Promise.reject(new Error('tasks are created by run_js'));
  }

  async getTask(taskId: string): Promise<Task | null> {
    const record = await this.#find(taskId);
    return record ? taskOf(record) : null;
  }

  /** Results are the executions themselves: nothing to store. */
  async storeTaskResult(): Promise<void> {}

  async getTaskResult(taskId: string): Promise<Result> {
    return toolOk(toExecutionView(await this.#service.get(this.#namespace, taskId)));
  }

  /**
   * `tasks/result`: blocks until the task's execution ends, then answers with its result. It
   * replaces the SDK's handler, which re-reads the task every `pollInterval` (250 ms): this one
   * uses the service's wait, woken by the end itself where the execution runs in this process.
   * Errors as the SDK's: an unknown task is InvalidParams, a cancelled request InvalidRequest.
   */
  async awaitTaskResult(taskId: string, signal: AbortSignal): Promise<Result> {
    let record: ExecutionRecord;
    try {
      record = await this.#service.wait(this.#namespace, taskId, Number.POSITIVE_INFINITY, signal);
    } catch (err) {
      if (isMcpv8Error(err, 'MCPV8_ERR_EXEC_NOT_FOUND')) {
        throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
      }
      throw err;
    }
    if (!TERMINAL_STATUSES.has(record.status))
      throw new McpError(ErrorCode.InvalidRequest, 'Request cancelled');
    const result = toolOk(toExecutionView(record));
    return { ...result, _meta: { ...result._meta, [RELATED_TASK_META_KEY]: { taskId } } };
  }

  async updateTaskStatus(taskId: string, status: Task['status']): Promise<void> {
    if (status === 'cancelled') {
      await this.#service.cancel(this.#namespace, taskId).catch((err: unknown) => {
        if (!isMcpv8Error(err, 'MCPV8_ERR_EXEC_FINISHED')) throw err;
      });
    }
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const page = await this.#service.list(this.#namespace, { limit: 100, cursor });
    return { tasks: page.items.map(taskOf), ...(page.nextCursor && { nextCursor: page.nextCursor }) };
  }

  async #find(id: string): Promise<ExecutionRecord | undefined> {
    try {
      return await this.#service.get(this.#namespace, id);
    } catch (err) {
      if (isMcpv8Error(err, 'MCPV8_ERR_EXEC_NOT_FOUND')) return undefined;
      throw err;
    }
  }
}

/** The task view of an execution. */
export function taskOf(r: ExecutionRecord): Task {
  return {
    taskId: r.id,
    status: TASK_STATUS[r.status],
    ttl: null,
    createdAt: r.createdAt,
    lastUpdatedAt: r.completedAt ?? r.startedAt ?? r.createdAt,
    pollInterval: TASK_POLL_INTERVAL_MS,
    ...(r.status === 'queued' && { statusMessage: 'queued' }),
    ...(r.outcome?.error && { statusMessage: `${r.outcome.error.reason}: ${r.outcome.error.message}` }),
  };
}
