// How the NATS pool's bookkeeping applies the claims runner pods announce (what a pod admitted
// over its life, the tenant it is bound to): the runners a run may go to, and which are retired.
// The messaging is covered against real runner pods in test/integration/nats-runner-pool.int.test.ts.
import { describe, expect, it } from 'vitest';
import { failedOutcome } from '../../src/core/heap-commit.ts';
import { FailureReason } from '../../src/core/index.ts';
import { RunnerClaims } from '../../src/cluster/nats-runner-claims.ts';
import { RunnerRoster, type Runner } from '../../src/cluster/nats-runner-roster.ts';

function roster(runsPerRunner?: number) {
  const runners = new RunnerRoster({ subjectPrefix: 'mcpv8', concurrencyPerRunner: 1, runsPerRunner });
  const retired: string[] = [];
  const claims = new RunnerClaims({
    runners,
    opts: { onRetired: (id) => void retired.push(id), lostReason: FailureReason.RunnerLost },
    lost: (p, message) => failedOutcome(p.req, p.startedAt, FailureReason.RunnerLost, message),
    wake: () => {},
  });
  /** A runner that was heard from (ready), with the claim it announced, if any (running nothing by default). */
  const ready = (id: string, claim?: { admitted?: number; tenant?: string; running?: number }): Runner => {
    const r = runners.know(id);
    r.ready = true;
    if (claim) claims.announced(r, { running: 0, ...claim });
    return r;
  };
  return { runners, claims, retired, ready };
}

describe('runner claims in the NATS pool', () => {
  it('gives no work to a runner until its claim is heard', () => {
    const { runners, ready } = roster(1);
    const r = ready('pod-a');
    expect(runners.free(undefined, 'ns-a')).toBeUndefined();
    ready('pod-a', { admitted: 0 });
    expect(runners.free(undefined, 'ns-a')).toBe(r);
  });

  it('retires a runner whose pod announces it admitted its executionsPerPod, once, and sends it nothing', () => {
    const { runners, ready, retired } = roster(1);
    const used = ready('pod-used', { admitted: 1, tenant: 'ns-a' });
    const fresh = ready('pod-fresh', { admitted: 0 });
    expect(runners.retiredFor(used)).toBe('used-up');
    expect(retired).toEqual(['pod-used']);
    // Every later heartbeat says the same: the owner is not told again.
    ready('pod-used', { admitted: 1, tenant: 'ns-a' });
    expect(retired).toEqual(['pod-used']);
    expect(runners.free(used, 'ns-a')).toBe(fresh);
  });

  it('retires a used-up pod only once its pod says it runs nothing (a run another controller sent)', () => {
    const { runners, ready, retired } = roster(1);
    const r = ready('pod-a', { admitted: 1, tenant: 'ns-a', running: 1 });
    expect(runners.retiredFor(r)).toBe('used-up');
    expect(runners.idle(r)).toBe(false);
    expect(retired).toEqual([]);
    ready('pod-a', { admitted: 1, tenant: 'ns-a', running: 0 });
    expect(retired).toEqual(['pod-a']);
  });

  it('counts the runs the pod admitted from any controller, and those this pool sent it', () => {
    const { runners, ready } = roster(2);
    const r = ready('pod-a', { admitted: 1, tenant: 'ns-a' });
    expect(runners.usedUp(r)).toBe(false);
    ready('pod-a', { admitted: 2, tenant: 'ns-a' });
    expect(runners.usedUp(r)).toBe(true);
    // Sent but not yet admitted (its announcement still says 0): they count all the same.
    const s = ready('pod-b', { admitted: 0 });
    runners.sent(s, 'ns-a');
    runners.sent(s, 'ns-a');
    expect(runners.usedUp(s)).toBe(true);
  });

  it('sends a runner bound to a tenant only that tenant’s runs, and keeps it bound when a run is not sent', () => {
    const { runners, ready } = roster();
    const bound = ready('pod-a', { admitted: 3, tenant: 'ns-a' });
    expect(runners.free(undefined, 'ns-b')).toBeUndefined();
    expect(runners.free(undefined, 'ns-a')).toBe(bound);
    runners.sent(bound, 'ns-a');
    runners.unsent(bound);
    expect(bound.tenant).toBe('ns-a');
    // A runner bound to nobody is bound by the first run sent, and free again if it was not sent.
    const fresh = ready('pod-b', { admitted: 0 });
    runners.sent(fresh, 'ns-b');
    expect(fresh.tenant).toBe('ns-b');
    runners.unsent(fresh);
    expect(fresh.tenant).toBeUndefined();
  });

  it('retires, never rebinds, a pod whose word contradicts the binding the pool holds', () => {
    const { runners, ready, retired } = roster();
    const r = ready('pod-a', { admitted: 0 });
    runners.sent(r, 'ns-a');
    // The pod now says it runs for ns-b: another controller's run reached it first, or code that
    // escaped its isolate wants ns-b's runs. Either way it gets neither tenant's runs again.
    ready('pod-a', { admitted: 1, tenant: 'ns-b', running: 1 });
    expect(r.tenant).toBe('ns-a');
    runners.refused(r, 'ns-b');
    expect(runners.free(undefined, 'ns-a')).toBeUndefined();
    expect(runners.free(undefined, 'ns-b')).toBeUndefined();
    ready('pod-a', { admitted: 1, tenant: 'ns-b', running: 0 });
    expect(retired).toEqual(['pod-a']);
  });

  it('takes a pod’s binding only while it knows none, and never a refusal’s after a run was taken', () => {
    const { runners, ready } = roster();
    // A pool that takes over learns the binding from the pod.
    const known = ready('pod-a', { admitted: 1, tenant: 'ns-a' });
    expect(runners.free(undefined, 'ns-a')).toBe(known);
    // A pod the pool gave nothing else and heard no binding from: its refusal names its tenant.
    const fresh = ready('pod-b', { admitted: 0 });
    runners.sent(fresh, 'ns-c');
    runners.refused(fresh, 'ns-d');
    expect(fresh.tenant).toBe('ns-d');
    expect(runners.usedUp(fresh)).toBe(false);
    // A pod that took a run of ns-a and then refuses one of ns-a "for ns-b" is retired.
    const liar = ready('pod-c', { admitted: 0 });
    runners.sent(liar, 'ns-a');
    ready('pod-c', { admitted: 1, tenant: 'ns-a' });
    runners.sent(liar, 'ns-a');
    runners.refused(liar, 'ns-b');
    expect(liar.tenant).toBe('ns-a');
    expect(runners.usedUp(liar)).toBe(true);
  });

  it('recycles an idle runner bound to another tenant only once every claim is known', () => {
    const { runners, ready } = roster();
    const bound = ready('pod-a', { admitted: 1, tenant: 'ns-a' });
    // Heard from, claim not yet: it may be bound to nobody, so nothing is recycled.
    ready('pod-b');
    expect(runners.recyclable('ns-b')).toBeUndefined();
    ready('pod-b', { admitted: 2, tenant: 'ns-c' });
    expect(runners.recyclable('ns-b')).toBe(bound);
  });
});
