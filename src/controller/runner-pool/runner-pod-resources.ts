/**
 * Requests and limits of a runner container (pure): what the pool's template sets, and for each of
 * memory, CPU and ephemeral storage it leaves out, a limit and request derived here; and the
 * floors a template limit must meet (the CRD refuses the memory and CPU ones at admission; the
 * ephemeral-storage floor depends on the controller's /tmp size, so only the controller knows it).
 *
 * Derived, when the template sets no limit:
 * - memory: limit = maxHeapMb × (1 running + live heaps) + RUNTIME_OVERHEAD_MIB, request = limit
 *   (memory is not compressible: a pod scheduled for less than it may use gets killed);
 * - cpu: limit = 1 (a runner runs one cell at a time on one thread; V8's GC and compiler threads
 *   take the rest), request = 100m (warm pods idle; the node's spare CPU is shared);
 * - ephemeral-storage: limit = /tmp size + LOG_MARGIN_MIB (the root filesystem is read-only, so
 *   /tmp and the container log are all the pod writes), request = limit.
 * A request the template sets above a derived limit raises the limit to it; a request the template
 * leaves out is its limit, as Kubernetes itself defaults it, except CPU's derived 100m.
 */
import type { RunnerPool } from '../../api/v1alpha1/index.ts';
import {
  CONCURRENT_EXECUTIONS_PER_POD,
  CPU_FLOOR_MILLICORES,
  RUNTIME_OVERHEAD_MIB,
  liveHeapsPerPod,
  memoryFloorMib,
} from '../../api/v1alpha1/index.ts';

/** Size limit of the runner's writable /tmp when the controller's settings give none. */
export const DEFAULT_TMP_SIZE = '64Mi';

/**
 * Ephemeral storage a runner pod needs besides /tmp, MiB: its container log, which the kubelet
 * rotates at 10 MiB × 5 files by default (containerLogMaxSize, containerLogMaxFiles), and the few
 * files the runtime writes in the container's layer.
 */
export const LOG_MARGIN_MIB = 64;

/** CPU limit of a runner container when the template sets none. */
export const DEFAULT_CPU_LIMIT = '1';

/** CPU request of a runner container when the template sets neither a request nor a limit. */
export const DEFAULT_CPU_REQUEST = '100m';

/** A resource list as it goes into the pod spec: quantities as text. */
export type ResourceList = Record<string, string>;

/** Why a pool's template cannot make a runner pod (stable reasons: they name a Ready condition). */
export const ResourceProblemReason = {
  /** The memory limit is below the isolate cap × isolates + runtime overhead. */
  MemoryLimitBelowFloor: 'MemoryLimitBelowFloor',
  /** The CPU limit is below the 100m a runner needs to start in reasonable time. */
  CpuLimitBelowFloor: 'CpuLimitBelowFloor',
  /** The ephemeral-storage limit cannot hold /tmp and the container log. */
  EphemeralStorageBelowFloor: 'EphemeralStorageBelowFloor',
  /** A request exceeds its limit (the API server would refuse every pod). */
  RequestAboveLimit: 'RequestAboveLimit',
  /** A quantity that cannot be read, or is negative. */
  InvalidQuantity: 'InvalidQuantity',
} as const;
export type ResourceProblemReason = (typeof ResourceProblemReason)[keyof typeof ResourceProblemReason];

/** One thing wrong with a pool's template resources. */
export interface ResourceProblem {
  reason: ResourceProblemReason;
  message: string;
}

const MIB = 2 ** 20;

/** The isolate-derived memory limit of a pool's runner container, MiB (the CRD's floor too). */
export function derivedMemoryMib(pool: RunnerPool): number {
  return memoryFloorMib(pool.spec);
}

/** The least ephemeral-storage limit of a runner container whose /tmp is `tmpSize`, bytes. */
export function ephemeralStorageFloorBytes(tmpSize: string): number {
  return quantityValue(tmpSize) + LOG_MARGIN_MIB * MIB;
}

/** Requests and limits of a pool's runner container (see the module comment). */
export function resourcesFor(
  pool: RunnerPool,
  tmpSize: string = DEFAULT_TMP_SIZE,
): { requests: ResourceList; limits: ResourceList } {
  const given = pool.spec.template?.resources ?? {};
  const requests = stringify(given.requests);
  const limits = stringify(given.limits);
  derive(requests, limits, 'memory', `${derivedMemoryMib(pool)}Mi`);
  derive(requests, limits, 'cpu', DEFAULT_CPU_LIMIT, DEFAULT_CPU_REQUEST);
  derive(requests, limits, 'ephemeral-storage', mib(ephemeralStorageFloorBytes(tmpSize)));
  return { requests, limits };
}

/** Bytes of the memory limit a pool's runner container gets. */
export function memoryLimitBytes(pool: RunnerPool): number {
  return quantityValue(resourcesFor(pool).limits.memory!);
}

/**
 * What in a pool's template resources a runner cannot live with, first the floors; empty when
 * the pool can have pods. Limits are read as given (a derived one always meets its floor).
 */
export function resourceProblems(pool: RunnerPool, tmpSize: string = DEFAULT_TMP_SIZE): ResourceProblem[] {
  const given = pool.spec.template?.resources ?? {};
  const limits = stringify(given.limits);
  const requests = stringify(given.requests);
  const problems: ResourceProblem[] = [];
  for (const [kind, list] of [
    ['limits', limits],
    ['requests', requests],
  ] as const) {
    for (const [resource, text] of Object.entries(list)) {
      const value = quantityValue(text);
      if (Number.isNaN(value) || value < 0)
        problems.push({
          reason: ResourceProblemReason.InvalidQuantity,
          message: `template.resources.${kind}.${resource} ${text} is not a non-negative quantity`,
        });
    }
  }
  if (problems.length > 0) return problems;

  const below = (resource: string, floor: number) =>
    limits[resource] !== undefined && quantityValue(limits[resource]) < floor;
  const memoryFloor = derivedMemoryMib(pool);
  if (below('memory', memoryFloor * MIB)) {
    const isolates = CONCURRENT_EXECUTIONS_PER_POD + liveHeapsPerPod(pool.spec.executionsPerPod);
    problems.push({
      reason: ResourceProblemReason.MemoryLimitBelowFloor,
      message:
        `template.resources.limits.memory ${limits.memory} is below the ${memoryFloor}Mi the runner needs ` +
        `(isolate.maxHeapMb ${pool.spec.isolate.maxHeapMb} × ${isolates} isolate(s) + ${RUNTIME_OVERHEAD_MIB}Mi runtime overhead)`,
    });
  }
  if (below('cpu', CPU_FLOOR_MILLICORES / 1000)) {
    problems.push({
      reason: ResourceProblemReason.CpuLimitBelowFloor,
      message: `template.resources.limits.cpu ${limits.cpu} is below the ${CPU_FLOOR_MILLICORES}m a runner needs to start`,
    });
  }
  const storageFloor = ephemeralStorageFloorBytes(tmpSize);
  if (below('ephemeral-storage', storageFloor)) {
    problems.push({
      reason: ResourceProblemReason.EphemeralStorageBelowFloor,
      message:
        `template.resources.limits.ephemeral-storage ${limits['ephemeral-storage']} is below the ` +
        `${mib(storageFloor)} the runner needs (/tmp ${tmpSize} + ${LOG_MARGIN_MIB}Mi for its log)`,
    });
  }
  for (const [resource, request] of Object.entries(requests)) {
    const limit = limits[resource];
    if (limit !== undefined && quantityValue(request) > quantityValue(limit))
      problems.push({
        reason: ResourceProblemReason.RequestAboveLimit,
        message: `template.resources.requests.${resource} ${request} is above its limit ${limit}`,
      });
  }
  return problems;
}

/** Sets `limit` (and `request`, default the limit) of `resource` where the template left them out. */
function derive(
  requests: ResourceList,
  limits: ResourceList,
  resource: string,
  limit: string,
  request: string = limit,
): void {
  if (limits[resource] === undefined) {
    const asked = requests[resource];
    // A request above the derived limit would make the pod invalid (request ≤ limit): keep it.
    limits[resource] = asked !== undefined && quantityValue(asked) > quantityValue(limit) ? asked : limit;
    requests[resource] ??= request;
  } else {
    requests[resource] ??= limits[resource];
  }
}

/** Bytes as a whole-MiB quantity, rounded up. */
function mib(bytes: number): string {
  return `${Math.ceil(bytes / MIB)}Mi`;
}

function stringify(list: Record<string, string | number> | undefined): ResourceList {
  const out: ResourceList = {};
  for (const [k, v] of Object.entries(list ?? {})) out[k] = String(v);
  return out;
}

const SUFFIX_FACTORS: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a Kubernetes quantity in its base unit (bytes, cores): `512Mi`, `1G`, `1e9`,
 * `250m`, `134217728`; NaN when unreadable.
 */
export function quantityValue(quantity: string): number {
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/.exec(
    quantity.trim(),
  );
  if (!m) return Number.NaN;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * SUFFIX_FACTORS[m[3] ?? '']!;
}

/** Bytes of a memory quantity ({@link quantityValue}); NaN when unreadable. */
export const memoryBytes = quantityValue;
