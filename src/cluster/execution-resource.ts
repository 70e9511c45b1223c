/**
 * ExecutionRecord ↔ Execution custom resource (executions.mcpv8.dev/v1alpha1): how the cluster's
 * ExecutionStore lays a record out in an object, and reads it back.
 *
 * - `id` → `metadata.name` (ids are lower-case UUIDs: DNS labels), `namespace` → `metadata.namespace`.
 * - `code`, `language`, `limits`, `heap`, `session`, `tags` → `spec` (immutable after create).
 * - `createdAt` → annotation `mcpv8.dev/created-at`, verbatim: `creationTimestamp` has only
 *   seconds, and the server sets it.
 * - `status` → `status.phase` (queued → Pending, running → Running, completed → Succeeded,
 *   failed → Failed, cancelled → Cancelled, timed_out → TimedOut; the controller's Scheduled reads
 *   back as queued), plus a Tekton-style `Succeeded` condition: Unknown (reason = the phase)
 *   until the end, then True (reason Succeeded) or False (reason = the FailureReason).
 * - `startedAt`, `completedAt` → `status.startTime`, `status.completionTime`, verbatim.
 * - `runner`, `runnerNode` → `status.runner.pod`, `status.runner.node` (the node goes with its pod).
 * - `outcome` → `status.result` (cut to the CRD's bound, `resultTruncated` set), `resultType`,
 *   `error {reason, message}` (the error's name leads the condition message: "TypeError: …"),
 *   `heap`, `output.bytes`, `output.truncated`. etcd holds a summary, never the full outcome: the
 *   stack trace is dropped, the result is bounded, `effectiveHeapMb` is recomputed from the
 *   limits and `durationMs` from the start and completion times ({@link storedOutcome}).
 *
 * Labels index what lists filter on, because the API server cannot select on status fields:
 * `mcpv8.dev/phase`, `mcpv8.dev/created-ms` (createdAt as epoch milliseconds, for the `<`/`>`
 * selectors newest-first paging uses) and `mcpv8.dev/completed-ms` (for retention).
 */
import {
  API_VERSION,
  EXECUTION_KIND,
  EXECUTION_RESULT_MAX_CHARS,
  ExecutionConditionType,
  ExecutionFailureReason,
  ExecutionPhase,
  type Execution,
  type ExecutionCondition,
  type ExecutionSpec,
  type ExecutionStatus as ExecutionResourceStatus,
} from '../api/v1alpha1/index.ts';
import { TERMINAL_STATUSES, type ExecutionOutcome, type ExecutionStatus } from '../core/api/execution.ts';
import { effectiveHeapMb } from '../core/api/outcome.ts';
import type { ExecutionRecord, ExecutionStore } from '../core/execution-store.ts';
import { outputLocation } from './jetstream-output-log.ts';

export const LABEL_PHASE = 'mcpv8.dev/phase';
export const LABEL_CREATED_MS = 'mcpv8.dev/created-ms';
export const LABEL_COMPLETED_MS = 'mcpv8.dev/completed-ms';
export const ANNOTATION_CREATED_AT = 'mcpv8.dev/created-at';

const PHASE_OF: Record<ExecutionStatus, ExecutionPhase> = {
  queued: ExecutionPhase.Pending,
  running: ExecutionPhase.Running,
  completed: ExecutionPhase.Succeeded,
  failed: ExecutionPhase.Failed,
  cancelled: ExecutionPhase.Cancelled,
  timed_out: ExecutionPhase.TimedOut,
};

const STATUS_OF: Record<ExecutionPhase, ExecutionStatus> = {
  Pending: 'queued',
  Scheduled: 'queued',
  Running: 'running',
  Succeeded: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
  TimedOut: 'timed_out',
};

/** Phases not yet ended. */
export const UNFINISHED_PHASES: readonly ExecutionPhase[] = ['Pending', 'Scheduled', 'Running'];
/** Phases of an ended execution. */
export const TERMINAL_PHASES: readonly ExecutionPhase[] = ['Succeeded', 'Failed', 'Cancelled', 'TimedOut'];

/** The record status a phase reads as; an object without a phase yet is queued. */
export function statusOfPhase(phase: ExecutionPhase | undefined): ExecutionStatus {
  return phase === undefined ? 'queued' : STATUS_OF[phase];
}

/** Every phase that reads as `status` (queued: Pending and the controller's Scheduled). */
export function phasesOf(status: ExecutionStatus): ExecutionPhase[] {
  return Object.values(ExecutionPhase).filter((p) => STATUS_OF[p] === status);
}

/** The phase to write for `status`, keeping a finer phase that reads the same (Scheduled). */
function phaseFor(status: ExecutionStatus, previous: ExecutionPhase | undefined): ExecutionPhase {
  return previous !== undefined && STATUS_OF[previous] === status ? previous : PHASE_OF[status];
}

/** What `POST` sends: the spec fields the server does not default, and the index labels. */
export interface ExecutionManifest {
  apiVersion: typeof API_VERSION;
  kind: typeof EXECUTION_KIND;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: Pick<ExecutionSpec, 'code' | 'language' | 'limits' | 'heap' | 'session' | 'tags'>;
}

/**
 * The object to create for `record` (status is written separately: the API server drops it on
 * create). @throws RangeError when createdAt is not a time from 1970 on (it becomes a label).
 */
export function manifestOf(record: ExecutionRecord): ExecutionManifest {
  const createdMs = Date.parse(record.createdAt);
  if (!Number.isSafeInteger(createdMs) || createdMs < 0) {
    throw new RangeError(`createdAt must be an ISO-8601 time from 1970 on, got ${record.createdAt}`);
  }
  const { code, language, limits, heap, session, tags } = record;
  return {
    apiVersion: API_VERSION,
    kind: EXECUTION_KIND,
    metadata: {
      name: record.id,
      namespace: record.namespace,
      labels: { [LABEL_CREATED_MS]: String(createdMs), ...definedLabels(record) },
      annotations: { [ANNOTATION_CREATED_AT]: record.createdAt },
    },
    spec: {
      code,
      language,
      limits,
      ...(heap !== undefined && { heap }),
      ...(session !== undefined && { session }),
      ...(tags !== undefined && { tags }),
    },
  };
}

/**
 * The status-derived labels for `record`: its phase, and its completion time once it ended.
 * A label to remove is `null` (as a JSON merge patch says it).
 */
export function statusLabels(
  record: ExecutionRecord,
  phase = PHASE_OF[record.status],
): Record<string, string | null> {
  const completedMs = record.completedAt === undefined ? NaN : Date.parse(record.completedAt);
  const ended = TERMINAL_STATUSES.has(record.status) && Number.isSafeInteger(completedMs) && completedMs >= 0;
  return { [LABEL_PHASE]: phase, [LABEL_COMPLETED_MS]: ended ? String(completedMs) : null };
}

function definedLabels(record: ExecutionRecord): Record<string, string> {
  return Object.fromEntries(
    Object.entries(statusLabels(record)).filter((e): e is [string, string] => e[1] !== null),
  );
}

/**
 * The status to write for `record`, given the object's current status: the fields the record
 * owns are recomputed from it, the rest (runner, output stream and subject, other conditions)
 * is kept as the controller wrote it.
 */
export function statusOf(
  record: ExecutionRecord,
  previous: ExecutionResourceStatus | undefined,
  generation: number | undefined,
  now: string,
): ExecutionResourceStatus {
  const {
    phase: previousPhase,
    conditions = [],
    startTime: _s,
    completionTime: _c,
    result: _r,
    resultTruncated: _rt,
    resultType: _t,
    error: _e,
    heap: _h,
    output,
    ...kept
  } = previous ?? {};
  const phase = phaseFor(record.status, previousPhase);
  const condition = succeededCondition(record, phase, conditions, generation, now);
  const { bytes: _b, truncated: _o, ...kept0 } = output ?? {};
  // A run on a runner pod writes its lines to the default JetStream log: say where.
  const outputKept =
    record.runner !== undefined ? { ...outputLocation(record.namespace, record.id), ...kept0 } : kept0;
  const status: ExecutionResourceStatus = {
    ...kept,
    phase,
    conditions: [...conditions.filter((c) => c.type !== condition.type), condition],
    ...(generation !== undefined && { observedGeneration: generation }),
    ...(record.startedAt !== undefined && { startTime: record.startedAt }),
    ...(record.completedAt !== undefined && { completionTime: record.completedAt }),
    ...(record.runner !== undefined && {
      runner: { pod: record.runner, ...(record.runnerNode !== undefined && { node: record.runnerNode }) },
    }),
  };
  const o = record.outcome;
  if (o === undefined) {
    if (Object.keys(outputKept).length > 0) status.output = outputKept;
    return status;
  }
  if (o.result !== undefined) {
    const { text, cut } = boundResult(o.result);
    status.result = text;
    if (cut || o.resultTruncated === true) status.resultTruncated = true;
  } else if (o.resultTruncated === true) {
    status.resultTruncated = true;
  }
  if (o.resultType !== undefined) status.resultType = o.resultType;
  if (o.error !== undefined) status.error = { reason: o.error.reason, message: o.error.message };
  if (o.heap !== undefined) status.heap = o.heap;
  // `output.bytes` is written with an outcome only: its presence is how a reader knows one exists.
  status.output = { ...outputKept, bytes: o.outputBytes, truncated: o.outputTruncated };
  return status;
}

/** `result` cut to the CRD's bound, never between the two halves of a surrogate pair. */
export function boundResult(result: string): { text: string; cut: boolean } {
  // The API server counts code points; a JS length counts UTF-16 units, so this is conservative.
  if (result.length <= EXECUTION_RESULT_MAX_CHARS) return { text: result, cut: false };
  let end = EXECUTION_RESULT_MAX_CHARS;
  const last = result.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { text: result.slice(0, end), cut: true };
}

const DEFAULT_FAILURE: Partial<Record<ExecutionStatus, ExecutionFailureReason>> = {
  failed: ExecutionFailureReason.Error,
  cancelled: ExecutionFailureReason.Cancelled,
  timed_out: ExecutionFailureReason.Timeout,
};

const PROGRESS_MESSAGE: Partial<Record<ExecutionPhase, string>> = {
  Pending: 'waiting for a runner',
  Scheduled: 'assigned to a runner',
  Running: 'running',
  Succeeded: 'the cell completed',
};

function succeededCondition(
  record: ExecutionRecord,
  phase: ExecutionPhase,
  conditions: readonly ExecutionCondition[],
  generation: number | undefined,
  now: string,
): ExecutionCondition {
  const error = record.outcome?.error;
  let next: Pick<ExecutionCondition, 'status' | 'reason' | 'message'>;
  if (!TERMINAL_STATUSES.has(record.status)) {
    next = {
      status: 'Unknown',
      reason: phase as ExecutionCondition['reason'],
      message: PROGRESS_MESSAGE[phase]!,
    };
  } else if (record.status === 'completed') {
    next = { status: 'True', reason: 'Succeeded', message: PROGRESS_MESSAGE.Succeeded! };
  } else {
    next = {
      status: 'False',
      reason: error?.reason ?? DEFAULT_FAILURE[record.status]!,
      // "Name: message", as Node prints an error; the name is read back from here.
      message: error !== undefined ? `${error.name}: ${error.message}` : `the execution ended ${phase}`,
    };
  }
  const before = conditions.find((c) => c.type === ExecutionConditionType.Succeeded);
  return {
    type: ExecutionConditionType.Succeeded,
    ...next,
    ...(generation !== undefined && { observedGeneration: generation }),
    // metav1 convention: the time moves only when the condition's status does.
    lastTransitionTime: before?.status === next.status ? before.lastTransitionTime : now,
  };
}

/**
 * `record` with the defined fields of `patch` (the same object when nothing is set). A patch that
 * names another runner pod without its node clears the node: it was the old pod's.
 */
export function patchRecord(
  record: ExecutionRecord,
  patch: Parameters<ExecutionStore['transition']>[3],
): ExecutionRecord {
  const set = Object.entries(patch).filter(([, v]) => v !== undefined);
  if (set.length === 0) return record;
  const next: ExecutionRecord = { ...record, ...Object.fromEntries(set) };
  if (patch.runner !== undefined && patch.runner !== record.runner && patch.runnerNode === undefined)
    delete next.runnerNode;
  return next;
}

/** The record an Execution holds (see the module comment for what a summary keeps). */
export function recordOf(execution: Execution): ExecutionRecord {
  const { metadata = {}, spec } = execution;
  const s = execution.status ?? {};
  const status = statusOfPhase(s.phase);
  const record: ExecutionRecord = {
    id: metadata.name ?? '',
    status,
    code: spec.code,
    language: spec.language,
    limits: spec.limits,
    namespace: metadata.namespace ?? '',
    // Objects made with kubectl have no annotation: the server's time is the best there is.
    createdAt: metadata.annotations?.[ANNOTATION_CREATED_AT] ?? toIso(metadata.creationTimestamp),
  };
  if (spec.heap !== undefined) record.heap = spec.heap;
  if (spec.session !== undefined) record.session = spec.session;
  if (spec.tags !== undefined) record.tags = spec.tags;
  if (s.startTime !== undefined) record.startedAt = s.startTime;
  if (s.completionTime !== undefined) record.completedAt = s.completionTime;
  if (s.runner?.pod !== undefined) {
    record.runner = s.runner.pod;
    if (s.runner.node !== undefined) record.runnerNode = s.runner.node;
  }
  if (TERMINAL_STATUSES.has(status) && s.output?.bytes !== undefined) {
    record.outcome = outcomeOf(execution, status as ExecutionOutcome['status']);
  }
  return record;
}

function outcomeOf(execution: Execution, status: ExecutionOutcome['status']): ExecutionOutcome {
  const s = execution.status ?? {};
  const start = s.startTime === undefined ? NaN : Date.parse(s.startTime);
  const end = s.completionTime === undefined ? NaN : Date.parse(s.completionTime);
  const outcome: ExecutionOutcome = {
    status,
    effectiveHeapMb: effectiveHeapMb(execution.spec.limits.heapMemoryMaxMb),
    durationMs: Number.isFinite(end - start) ? Math.max(0, end - start) : 0,
    outputBytes: s.output?.bytes ?? 0,
    outputTruncated: s.output?.truncated ?? false,
  };
  if (s.result !== undefined) outcome.result = s.result;
  if (s.resultType !== undefined) outcome.resultType = s.resultType;
  if (s.resultTruncated === true) outcome.resultTruncated = true;
  if (s.heap !== undefined) outcome.heap = s.heap;
  if (s.error !== undefined) {
    const { message } = s.error;
    const said = s.conditions?.find((c) => c.type === ExecutionConditionType.Succeeded)?.message;
    const name = said?.endsWith(`: ${message}`) ? said.slice(0, said.length - message.length - 2) : 'Error';
    outcome.error = { reason: s.error.reason, name, message };
  }
  return outcome;
}

/**
 * The outcome a store on Execution objects gives back for `record`'s outcome: what
 * {@link statusOf} keeps of it, read back by {@link recordOf}.
 */
export function storedOutcome(record: ExecutionRecord): ExecutionOutcome | undefined {
  const { metadata, spec } = manifestOf(record);
  const execution = {
    metadata,
    spec: spec as ExecutionSpec,
    status: statusOf(record, undefined, 1, new Date(0).toISOString()),
  };
  return recordOf(execution).outcome;
}

function toIso(time: Date | string | undefined): string {
  if (time === undefined) return new Date(0).toISOString();
  return new Date(time).toISOString();
}
