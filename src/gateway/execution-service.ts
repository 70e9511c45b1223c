/**
 * What the MCP tools and the REST API call: validates a request against the server's limits,
 * records the execution, hands it to the scheduler, and answers reads (record, list, output
 * pages, waits). The same service backs every transport, so they behave identically.
 */
import { randomUUID } from 'node:crypto';
import {
  ExecutionStatusSchema,
  LIST_LIMIT_MAX,
  HEAP_MB_MAX,
  HEAP_MB_MIN,
  HeapTagsSchema,
  SessionNameSchema,
  assertHeapId,
  type HeapStore,
  type HeapTags,
  Mcpv8Error,
  TERMINAL_STATUSES,
  TIMEOUT_SECONDS_MAX,
  TIMEOUT_SECONDS_MIN,
  type CellLanguage,
  type ExecutionPage,
  type ExecutionRecord,
  type ExecutionStatus,
  type ExecutionStore,
  type OutputLog,
  type OutputPage,
  type OutputRange,
} from '../core/index.ts';
import type { ExecutionEvents, ExecutionOutputListener } from '../controller/execution-events.ts';
import type { ExecutionQueue } from './execution-queue.ts';
import { ExecutionWake } from './execution-wake.ts';
import type { TenantStores } from '../core/tenant-stores.ts';
import { SingleTenantStores } from '../local/single-tenant-stores.ts';
import { requireInteger } from './output-range.ts';

/** Page size of an execution list when the caller gives none. */
export const LIST_LIMIT_DEFAULT = 50;

/** Server-wide limits (the seed's flags `--heap-memory-max`, `--execution-timeout`). */
export interface ExecutionLimitsPolicy {
  /** Heap cap when a call gives none, MiB. */
  defaultHeapMb: number;
  /** Largest heap cap a call may ask for, MiB (4–64). */
  maxHeapMb: number;
  defaultTimeoutSeconds: number;
  maxTimeoutSeconds: number;
}

/**
 * The server-wide limits from the seed's two flags: the heap cap a call gets by default
 * (`--heap-memory-max`, raised to the minimum) and the default timeout (`--execution-timeout`);
 * calls may ask for up to the domain's maxima.
 */
export function serverLimits(heapMemoryMaxMb: number, executionTimeoutSecs: number): ExecutionLimitsPolicy {
  return {
    defaultHeapMb: Math.max(HEAP_MB_MIN, heapMemoryMaxMb),
    maxHeapMb: HEAP_MB_MAX,
    defaultTimeoutSeconds: executionTimeoutSecs,
    maxTimeoutSeconds: TIMEOUT_SECONDS_MAX,
  };
}

export interface SubmitRequest {
  code: string;
  language?: CellLanguage;
  heapMemoryMaxMb?: number;
  executionTimeoutSecs?: number;
  /** Stateful mode: resume from this heap (must exist). */
  heap?: string;
  /** Stateful mode: log the committed cell under this session name. */
  session?: string;
  /** Stateful mode: tags for the heap the cell commits. */
  tags?: HeapTags;
}

interface CommonOptions {
  store: ExecutionStore;
  /** What runs executions: the in-process scheduler, or the cluster's controller. */
  scheduler: ExecutionQueue;
  /**
   * Live output and ends of executions running in this process (absent: no live following, and
   * waits poll the store).
   */
  events?: ExecutionEvents;
  limits: ExecutionLimitsPolicy;
  /** Largest cell, characters. */
  maxCodeChars: number;
  /**
   * Without `events`: longest pause between reads of a record while waiting for it to end; the
   * pause doubles from 5 ms up to it. ms (default 100).
   */
  maxPollMs?: number;
  /**
   * With `events`: pause between safety re-reads of a record while waiting for it to end, for an
   * end this process does not hear (another node sharing the store ended it). ms (default 1000).
   */
  recheckMs?: number;
  now?: () => Date;
}

/**
 * Either one output log and heap store for every caller (embedded), or stores resolved per
 * tenant namespace (cluster).
 */
export type ExecutionServiceOptions = CommonOptions &
  (
    | {
        output: OutputLog;
        /** Where heaps are kept; absent in stateless mode (heap, session and tags are refused). */
        heaps?: HeapStore;
        tenants?: never;
      }
    | { tenants: TenantStores; output?: never; heaps?: never }
  );

export class ExecutionService {
  readonly #opts: CommonOptions;
  readonly #tenants: TenantStores;

  constructor(opts: ExecutionServiceOptions) {
    this.#opts = opts;
    this.#tenants = opts.tenants ?? new SingleTenantStores({ output: opts.output, heaps: opts.heaps });
  }

  get limits(): ExecutionLimitsPolicy {
    return this.#opts.limits;
  }

  /**
   * Records and queues an execution; returns at once with the `queued` record.
   * @throws MCPV8_ERR_INPUT_INVALID, _LIMIT_HEAP_RANGE, _LIMIT_TIMEOUT_RANGE, _QUEUE_FULL.
   */
  async submit(namespace: string, req: SubmitRequest): Promise<ExecutionRecord> {
    const { limits, maxCodeChars } = this.#opts;
    if (typeof req.code !== 'string' || req.code.length === 0) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', ['code must be a non-empty string']);
    }
    if (req.code.length > maxCodeChars) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`code is longer than ${maxCodeChars} characters`]);
    }
    const heap = req.heapMemoryMaxMb ?? limits.defaultHeapMb;
    if (!Number.isInteger(heap) || heap < HEAP_MB_MIN || heap > limits.maxHeapMb) {
      throw new Mcpv8Error('MCPV8_ERR_LIMIT_HEAP_RANGE', [HEAP_MB_MIN, limits.maxHeapMb, String(heap)]);
    }
    const timeout = req.executionTimeoutSecs ?? limits.defaultTimeoutSeconds;
    if (!Number.isInteger(timeout) || timeout < TIMEOUT_SECONDS_MIN || timeout > limits.maxTimeoutSeconds) {
      throw new Mcpv8Error('MCPV8_ERR_LIMIT_TIMEOUT_RANGE', [
        TIMEOUT_SECONDS_MIN,
        limits.maxTimeoutSeconds,
        String(timeout),
      ]);
    }
    const stateful = await this.#statefulPart(namespace, req);
    // Checked before anything is stored, so a refused call leaves no record behind.
    this.#opts.scheduler.assertCapacity();
    const record: ExecutionRecord = {
      id: randomUUID(),
      status: 'queued',
      code: req.code,
      language: req.language ?? 'javascript',
      limits: { heapMemoryMaxMb: heap, timeoutSeconds: timeout },
      namespace,
      createdAt: (this.#opts.now?.() ?? new Date()).toISOString(),
      ...stateful,
    };
    await this.#opts.store.create(record);
    this.#opts.scheduler.submit(record);
    return record;
  }

  /** True when the server keeps heaps (sessions, tags). */
  get stateful(): boolean {
    return this.#tenants.stateful;
  }

  /**
   * Validates heap, session and tags. An unknown heap is refused here, before anything runs:
   * resuming never silently starts a fresh session.
   */
  async #statefulPart(
    namespace: string,
    req: SubmitRequest,
  ): Promise<Pick<ExecutionRecord, 'heap' | 'session' | 'tags'>> {
    const used = (['heap', 'session', 'tags'] as const).filter((k) => req[k] !== undefined);
    const heaps = this.#tenants.heaps(namespace);
    if (!heaps) {
      if (used.length > 0) throw new Mcpv8Error('MCPV8_ERR_SESSION_STATELESS', [used.join(', ')]);
      return {};
    }
    if (req.heap !== undefined) {
      assertHeapId(req.heap);
      if (!(await heaps.has(req.heap))) throw new Mcpv8Error('MCPV8_ERR_HEAP_NOT_FOUND', [req.heap]);
    }
    const session = req.session === undefined ? undefined : SessionNameSchema.safeParse(req.session);
    if (session && !session.success) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`session ${session.error.issues[0]?.message}`]);
    }
    const tags = req.tags === undefined ? undefined : HeapTagsSchema.safeParse(req.tags);
    if (tags && !tags.success) {
      const issue = tags.error.issues[0];
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
        `tags${issue?.path.length ? '.' + issue.path.join('.') : ''} ${issue?.message}`,
      ]);
    }
    return {
      ...(req.heap !== undefined && { heap: req.heap }),
      ...(session?.data !== undefined && { session: session.data }),
      ...(tags?.data !== undefined && { tags: tags.data }),
    };
  }

  /**
   * Follows an execution's console lines as they are produced, until it ends. Returns an
   * unsubscribe function; a no-op where live output is not available.
   */
  follow(executionId: string, listener: ExecutionOutputListener): () => void {
    return this.#opts.events?.watch(executionId, listener) ?? (() => {});
  }

  /** @throws MCPV8_ERR_EXEC_NOT_FOUND */
  async get(namespace: string, id: string): Promise<ExecutionRecord> {
    const record = await this.#opts.store.get(namespace, id);
    if (!record) throw new Mcpv8Error('MCPV8_ERR_EXEC_NOT_FOUND', [id]);
    return record;
  }

  /**
   * A page of the tenant's executions, newest first. Every argument is checked here, once for
   * every transport: a caller's bad limit, status or cursor is MCPV8_ERR_INPUT_INVALID, never a
   * store failure. An empty cursor is the first page.
   * @throws MCPV8_ERR_INPUT_INVALID
   */
  list(
    namespace: string,
    query: { status?: ExecutionStatus; limit?: number; cursor?: string },
  ): Promise<ExecutionPage> {
    const limit = requireInteger('limit', query.limit ?? LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX);
    const status = query.status === undefined ? undefined : ExecutionStatusSchema.safeParse(query.status);
    if (status && !status.success) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
        `status must be one of ${ExecutionStatusSchema.options.join(', ')}`,
      ]);
    }
    const cursor: unknown = query.cursor;
    if (cursor !== undefined && typeof cursor !== 'string') {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', ['cursor must be a string (a next_cursor)']);
    }
    return this.#opts.store.list({
      namespace,
      limit,
      status: status?.data,
      ...(cursor !== undefined && cursor !== '' && { cursor }),
    });
  }

  /** @throws MCPV8_ERR_EXEC_NOT_FOUND, MCPV8_ERR_EXEC_FINISHED */
  cancel(namespace: string, id: string): Promise<ExecutionRecord> {
    return this.#opts.scheduler.cancel(namespace, id);
  }

  /** A page of output plus the execution's status. @throws MCPV8_ERR_EXEC_NOT_FOUND */
  async readOutput(
    namespace: string,
    id: string,
    range: OutputRange,
  ): Promise<OutputPage & { status: ExecutionStatus }> {
    const record = await this.get(namespace, id);
    const output = await this.#tenants.output(namespace);
    const page = await output.read(id, range);
    return { ...page, status: record.status };
  }

  /**
   * Waits until the execution is terminal, `timeoutMs` passes (`Infinity`: no limit) or `signal`
   * aborts; returns the record as it is then. With live events, it returns as soon as this
   * process ends the execution (the scheduler stores the final record before it announces the
   * end) and otherwise re-reads only every `recheckMs`, for an end it cannot hear (another node
   * sharing the store ended it). Without them (cluster mode), it polls the store.
   * @throws MCPV8_ERR_EXEC_NOT_FOUND
   */
  async wait(
    namespace: string,
    id: string,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<ExecutionRecord> {
    const deadline = Date.now() + timeoutMs;
    const { events, maxPollMs = 100, recheckMs = 1000 } = this.#opts;
    // Subscribed before the first read: an end after that read still wakes the pause that follows.
    const wake = new ExecutionWake(events, id, signal);
    try {
      for (let delay = 5; ; delay = Math.min(delay * 2, maxPollMs)) {
        const record = await this.get(namespace, id);
        if (TERMINAL_STATUSES.has(record.status) || Date.now() >= deadline || signal?.aborted) return record;
        // With events the end itself cuts the pause short; its timer is only the safety re-read.
        await wake.pause(Math.min(events ? recheckMs : delay, deadline - Date.now()));
      }
    } finally {
      wake.close();
    }
  }
}
