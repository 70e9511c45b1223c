/**
 * The step after a stateful cell committed its heap, shared by the embedded scheduler and the
 * cluster controller: log the cell under its session and set the requested tags on the new heap,
 * before the execution is reported completed. If that fails the execution fails (HeapError): a
 * caller must never see "completed" for a cell its session does not show.
 */
import {
  FailureReason,
  endedOutcome,
  failureError,
  type ExecutionOutcome,
  type ExecutionRecord,
} from '../core/index.ts';
import type { SessionStores } from '../core/tenant-stores.ts';

/** Logs the committed cell and tags its heap; returns the outcome to report. */
export async function recordSessionCell(
  stores: SessionStores,
  record: ExecutionRecord,
  outcome: ExecutionOutcome,
  heap: string,
  now: Date,
): Promise<ExecutionOutcome> {
  try {
    if (record.tags) await stores.tags.set(heap, record.tags);
    if (record.session !== undefined) {
      await stores.log.append(record.session, {
        inputHeap: record.heap ?? null,
        outputHeap: heap,
        code: record.code,
        timestamp: now.toISOString(),
      });
    }
    return outcome;
  } catch (err) {
    const error = failureError(
      FailureReason.HeapError,
      `heap ${heap} was stored, but its session log or tags could not be written: ${String(err)}`,
    );
    return endedOutcome('failed', error, outcome.effectiveHeapMb, outcome.durationMs);
  }
}
