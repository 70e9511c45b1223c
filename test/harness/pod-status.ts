/** Pod status bodies as a kubelet reports them, for the fake kubelet (test/harness/kubelet.ts). */
import type { V1Container } from '@kubernetes/client-node';

/** IP reported for every pod: its process listens on the loopback. */
export const POD_IP = '127.0.0.1';

/** The local process of a container. */
export interface ProcessInfo {
  pid?: number;
  startedAt?: string;
}

const condition = (type: string, status: boolean, now: string, reason?: string) => ({
  type,
  status: status ? 'True' : 'False',
  lastTransitionTime: now,
  ...(reason && { reason }),
});

function containerStatus(
  c: V1Container,
  proc: ProcessInfo | undefined,
  state: Record<string, unknown>,
  ready: boolean,
) {
  return {
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ...(proc?.pid !== undefined && { containerID: `harness://${proc.pid}` }),
    ready,
    started: ready,
    restartCount: 0,
    state,
  };
}

export function runningStatus(c: V1Container, proc: ProcessInfo): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    phase: 'Running',
    hostIP: POD_IP,
    hostIPs: [{ ip: POD_IP }],
    podIP: POD_IP,
    podIPs: [{ ip: POD_IP }],
    startTime: proc.startedAt,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((t) =>
      condition(t, true, now),
    ),
    containerStatuses: [containerStatus(c, proc, { running: { startedAt: proc.startedAt } }, true)],
  };
}

/** A pod whose container exited with `exitCode`; `reason` defaults to Completed or Error. */
export function terminatedStatus(
  c: V1Container,
  proc: ProcessInfo,
  exitCode: number,
  reason?: string,
): Record<string, unknown> {
  const now = new Date().toISOString();
  const podReason = exitCode === 0 ? 'PodCompleted' : 'PodFailed';
  return {
    phase: exitCode === 0 ? 'Succeeded' : 'Failed',
    conditions: [
      condition('PodScheduled', true, now),
      condition('Initialized', true, now),
      condition('ContainersReady', false, now, podReason),
      condition('Ready', false, now, podReason),
    ],
    containerStatuses: [
      containerStatus(
        c,
        proc,
        {
          terminated: {
            exitCode,
            reason: reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
            startedAt: proc.startedAt,
            finishedAt: now,
            containerID: `harness://${proc.pid}`,
          },
        },
        false,
      ),
    ],
  };
}

export function waitingStatus(c: V1Container, reason: string, message: string): Record<string, unknown> {
  return {
    phase: 'Pending',
    conditions: [condition('PodScheduled', true, new Date().toISOString())],
    containerStatuses: [containerStatus(c, undefined, { waiting: { reason, message } }, false)],
  };
}

/**
 * The status a kubelet reports for a runner pod whose container ended (`reason` as the kubelet
 * names it: `OOMKilled` with 137 when the kernel killed it at its memory limit, `Error`, …), for
 * tests without a kubelet.
 */
export function endedRunnerStatus(image: string, reason: string, exitCode: number): Record<string, unknown> {
  return {
    phase: 'Failed',
    containerStatuses: [
      {
        name: 'runner',
        image,
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { terminated: { reason, exitCode } },
      },
    ],
  };
}
