// A run message as a pool sends it to a runner pod, with the defaults the pod suites share.
import type { PodRunMessage } from '../../../src/cluster/runner-subjects.ts';

/** The run of Execution `namespace`/`name` (execution id `<namespace>/<name>`) running `code`. */
export function clusterRun(
  namespace: string,
  name: string,
  code: string,
  extra: Partial<PodRunMessage> = {},
): PodRunMessage {
  return {
    type: 'run',
    executionId: `${namespace}/${name}`,
    code,
    language: 'javascript',
    heapMb: 16,
    timeoutMs: 10_000,
    persist: false,
    execution: { namespace, name },
    ...extra,
  };
}
