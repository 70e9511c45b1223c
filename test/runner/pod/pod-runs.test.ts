// A runner pod's claim on itself (pod-runs.ts), as it announces it: the runs it admitted over its
// life and the tenant it is bound to. Runs beyond it are refused, and change nothing.
import { describe, expect, it } from 'vitest';
import type { RunRefusal } from '../../../src/cluster/runner-subjects.ts';
import { PodRuns } from '../../../src/runner/pod/pod-runs.ts';
import { clusterRun } from './cluster-run.ts';

function pod(runsPerPod: number) {
  const refused: Array<[string, RunRefusal]> = [];
  const ran: string[] = [];
  const runs = new PodRuns({
    heaps: { refusal: async () => undefined },
    runner: { run: async (run) => void ran.push(run.executionId), cancel: () => {} },
    end: () => {},
    refuse: (run, refusal) => refused.push([run.executionId, refusal]),
    runsPerPod,
    warn: () => {},
  });
  return { runs, refused, ran };
}

describe('PodRuns claim', () => {
  it('claims nothing before its first run, then the runs it admitted and the tenant of the first', () => {
    const { runs } = pod(3);
    expect(runs.claim).toEqual({ admitted: 0 });
    runs.receive(clusterRun('ns-a', 'e1', '1'));
    expect(runs.claim).toEqual({ admitted: 1, tenant: 'ns-a' });
    runs.receive(clusterRun('ns-a', 'e2', '2'));
    expect(runs.claim).toEqual({ admitted: 2, tenant: 'ns-a' });
  });

  it('refuses runs past its claim without changing it', () => {
    const { runs, refused } = pod(1);
    runs.receive(clusterRun('ns-a', 'e1', '1'));
    runs.receive(clusterRun('ns-a', 'e2', '2'));
    runs.receive(clusterRun('ns-b', 'e3', '3'));
    expect(refused).toEqual([
      ['ns-a/e2', { reason: 'used-up' }],
      ['ns-b/e3', { reason: 'used-up' }],
    ]);
    expect(runs.claim).toEqual({ admitted: 1, tenant: 'ns-a' });
  });

  it('a pooled pod refuses another tenant’s run, naming the tenant it is bound to', () => {
    const { runs, refused } = pod(0);
    runs.receive(clusterRun('ns-a', 'e1', '1'));
    runs.receive(clusterRun('ns-b', 'e2', '2'));
    expect(refused).toEqual([['ns-b/e2', { reason: 'other-tenant', tenant: 'ns-a' }]]);
    expect(runs.claim).toEqual({ admitted: 1, tenant: 'ns-a' });
  });
});
