/**
 * Builders for outcomes of executions that ended without a result of their own (cancelled,
 * timed out, or failed outside the cell), so every role reports them with the same reasons and
 * messages.
 */
import {
  FailureReason,
  HEAP_MB_EFFECTIVE_MIN,
  type ExecutionError,
  type ExecutionOutcome,
} from './execution.ts';

/** The heap cap an isolate really gets for a request (isolated-vm's minimum is 8 MiB). */
export function effectiveHeapMb(requestedMb: number): number {
  return Math.max(HEAP_MB_EFFECTIVE_MIN, Math.floor(requestedMb));
}

export function cancelledError(): ExecutionError {
  return { reason: FailureReason.Cancelled, name: 'AbortError', message: 'the execution was cancelled' };
}

export function timedOutError(timeoutMs: number): ExecutionError {
  return {
    reason: FailureReason.Timeout,
    name: 'TimeoutError',
    message: `the execution exceeded its ${timeoutMs / 1000} s time limit`,
  };
}

/** A failure outside the user's code (runner crash, memory cap, restart). */
export function failureError(reason: FailureReason, message: string): ExecutionError {
  return { reason, name: 'Error', message };
}

/**
 * The outcome of an execution whose end was decided outside its cell: nothing it printed is
 * counted here (the output log has it) and there is no result.
 */
export function endedOutcome(
  status: 'failed' | 'cancelled' | 'timed_out',
  error: ExecutionError,
  requestedHeapMb: number,
  durationMs: number,
): ExecutionOutcome {
  return {
    status,
    error,
    effectiveHeapMb: effectiveHeapMb(requestedHeapMb),
    durationMs,
    outputBytes: 0,
    outputTruncated: false,
  };
}
