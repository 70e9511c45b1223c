/**
 * ExecutionStore: the durable record of executions (embedded: SQLite under the data dir;
 * cluster: Execution custom resources). OutputLog: each execution's console lines, append-only.
 */
import type {
  CellLanguage,
  ExecutionLimits,
  ExecutionOutcome,
  ExecutionStatus,
  OutputLevel,
} from './api/execution.ts';
import type { HeapId } from './api/heap-id.ts';
import type { HeapTags } from './session-log.ts';

/** One execution as stored. Timestamps are ISO-8601 UTC strings. */
export interface ExecutionRecord {
  /** Opaque, URL-safe, unique (e.g. a UUID). */
  id: string;
  status: ExecutionStatus;
  code: string;
  language: CellLanguage;
  limits: ExecutionLimits;
  /** Stateful mode: the heap the cell resumes (absent: a fresh session). */
  heap?: HeapId;
  /** Stateful mode: the session the committed cell is logged under. */
  session?: string;
  /** Stateful mode: tags set on the heap the cell commits. */
  tags?: HeapTags;
  /** Tenant the execution belongs to (embedded mode: `default`). */
  namespace: string;
  /**
   * Where it runs or ran: the runner pod (cluster) or the node that accepted it (several embedded
   * nodes sharing NATS). Absent: a single embedded node.
   */
  runner?: string;
  /** The node of the runner pod (cluster); it goes with `runner`: a new runner without it clears it. */
  runnerNode?: string;
  createdAt: string;
  startedAt?: string;
  completedAt?: string;
  /** Set when the execution reaches a terminal status. */
  outcome?: ExecutionOutcome;
}

/** Filter and page of {@link ExecutionStore.list}; newest first. */
export interface ListExecutionsQuery {
  namespace: string;
  status?: ExecutionStatus;
  /** 1–1000. */
  limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface ExecutionPage {
  items: ExecutionRecord[];
  nextCursor?: string;
}

export interface ExecutionStore {
  /** Stores a new record. @throws when the id exists. */
  create(record: ExecutionRecord, signal?: AbortSignal): Promise<void>;
  get(namespace: string, id: string, signal?: AbortSignal): Promise<ExecutionRecord | undefined>;
  /**
   * Applies `patch` only if the record's current status is one of `from` (compare-and-set, so a
   * cancelled execution stays cancelled when its runner reports late). Returns the updated
   * record, or undefined when the record is missing or in another status.
   */
  transition(
    namespace: string,
    id: string,
    from: readonly ExecutionStatus[],
    patch: Partial<
      Pick<ExecutionRecord, 'status' | 'startedAt' | 'completedAt' | 'outcome' | 'runner' | 'runnerNode'>
    >,
    signal?: AbortSignal,
  ): Promise<ExecutionRecord | undefined>;
  list(query: ListExecutionsQuery, signal?: AbortSignal): Promise<ExecutionPage>;
  /** Records in a non-terminal status (used at start-up to fail what a crash interrupted). */
  listUnfinished(signal?: AbortSignal): Promise<ExecutionRecord[]>;
  /** Deletes terminal records completed before `before` (ISO); returns their ids. */
  deleteCompletedBefore(before: string, signal?: AbortSignal): Promise<string[]>;
}

/** One console record split into lines (a record with newlines becomes several lines). */
export interface OutputLine {
  level: OutputLevel;
  text: string;
}

/** Either coordinate system; offsets are 0-based. */
export type OutputRange =
  { mode: 'lines'; offset: number; limit: number } | { mode: 'bytes'; offset: number; limit: number };

/**
 * A page of output. `text` is the lines joined with `\n` (each line ends with `\n`); in byte
 * mode it is exactly the UTF-8 bytes [byteOffset, nextByteOffset) of the log, never splitting a
 * character. Both coordinate systems are always filled in.
 */
export interface OutputPage {
  text: string;
  /** The lines of the page with their levels (byte mode: the part of each line inside the page). */
  lines: Array<OutputLine & { index: number }>;
  lineOffset: number;
  nextLineOffset: number;
  byteOffset: number;
  nextByteOffset: number;
  totalLines: number;
  totalBytes: number;
  hasMore: boolean;
}

export interface OutputLog {
  /** Appends lines in order. Concurrent appends to one execution must not interleave lines. */
  append(executionId: string, lines: readonly OutputLine[], signal?: AbortSignal): Promise<void>;
  /** Reads a page; cost independent of the total output size. */
  read(executionId: string, range: OutputRange, signal?: AbortSignal): Promise<OutputPage>;
  /** Removes the output of these executions (retention). */
  delete(executionIds: readonly string[], signal?: AbortSignal): Promise<void>;
}
