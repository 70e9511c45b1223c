/**
 * Defaults and bounds the CRDs add on top of the domain's ranges (src/core/api/execution.ts):
 * what an object gets when its manifest leaves a field out, and how much of it fits in etcd.
 */
import { HEAP_MB_EFFECTIVE_MIN } from '../../core/api/execution.ts';

/**
 * Largest inline `spec.code`, characters. Lower than the runner's own cell limit: etcd refuses
 * objects over ~1.5 MiB and a character may take 4 bytes in UTF-8, so 256 Ki characters keep an
 * Execution under 1 MiB whatever the code contains.
 */
export const EXECUTION_CODE_MAX_CHARS = 256 * 1024;

/**
 * Largest `status.result`, characters: enough to read a value at a glance with kubectl; the full
 * result travels with the outcome over NATS, never through etcd.
 */
export const EXECUTION_RESULT_MAX_CHARS = 16 * 1024;

/** Isolate heap cap when neither the Execution nor its pool says: the smallest real cap. */
export const DEFAULT_HEAP_MB = HEAP_MB_EFFECTIVE_MIN;

/** Wall-clock limit when neither the Execution nor its pool says (the CLI's default too). */
export const DEFAULT_TIMEOUT_SECONDS = 30;

/** The RunnerPool an Execution runs on unless it names another. */
export const DEFAULT_RUNNER_POOL = 'default';

/** Finished Executions are deleted after this long (their output and heaps outlive them). */
export const DEFAULT_TTL_SECONDS_AFTER_FINISHED = 900;

/** Warm runner pods a RunnerPool keeps when its manifest leaves `replicas` out. */
export const DEFAULT_POOL_REPLICAS = 2;

/** One execution per pod: a fresh sandbox pod each time, discarded after use. */
export const DEFAULT_EXECUTIONS_PER_POD = 1;
