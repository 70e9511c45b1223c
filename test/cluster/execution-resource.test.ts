// The ExecutionRecord ↔ Execution mapping and the paging helpers, without a cluster (the
// integration suite runs the same store against a real kube-apiserver).
import { describe, expect, it } from 'vitest';
import { EXECUTION_RESULT_MAX_CHARS, type Execution } from '../../src/api/v1alpha1/index.ts';
import {
  NewestFirst,
  createdAtOrAfter,
  createdAtOrBefore,
  decodeCursor,
  encodeCursor,
  phaseRequirement,
  selector,
} from '../../src/cluster/execution-paging.ts';
import {
  boundResult,
  manifestOf,
  patchRecord,
  phasesOf,
  recordOf,
  statusOf,
  statusOfPhase,
} from '../../src/cluster/execution-resource.ts';
import { mergePatch } from '../../src/cluster/kube-request.ts';
import type { ExecutionRecord } from '../../src/core/execution-store.ts';

const record = (over: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
  id: 'e1',
  status: 'running',
  code: '1',
  language: 'javascript',
  limits: { heapMemoryMaxMb: 4, timeoutSeconds: 10 },
  namespace: 'ns',
  createdAt: '2026-01-01T00:00:00.123Z',
  startedAt: '2026-01-01T00:00:01.000Z',
  ...over,
});

const asExecution = (r: ExecutionRecord, status = statusOf(r, undefined, 3, 'T')): Execution => {
  const { metadata, spec } = manifestOf(r);
  return { metadata, spec: spec as Execution['spec'], status };
};

describe('execution resource mapping', () => {
  it('maps statuses to phases and back, Scheduled reading as queued', () => {
    expect(phasesOf('queued')).toEqual(['Pending', 'Scheduled']);
    expect(phasesOf('timed_out')).toEqual(['TimedOut']);
    expect(statusOfPhase('Scheduled')).toBe('queued');
    expect(statusOfPhase(undefined)).toBe('queued');
    expect(statusOfPhase('Succeeded')).toBe('completed');
  });

  it('labels creation time in milliseconds and keeps the exact time in an annotation', () => {
    const m = manifestOf(record({ status: 'failed', completedAt: '2026-01-01T00:00:02.000Z' }));
    expect(m.metadata.labels).toEqual({
      'mcpv8.dev/created-ms': String(Date.parse('2026-01-01T00:00:00.123Z')),
      'mcpv8.dev/phase': 'Failed',
      'mcpv8.dev/completed-ms': String(Date.parse('2026-01-01T00:00:02.000Z')),
    });
    expect(m.metadata.annotations).toEqual({ 'mcpv8.dev/created-at': '2026-01-01T00:00:00.123Z' });
    expect(() => manifestOf(record({ createdAt: 'yesterday' }))).toThrow(RangeError);
  });

  it("keeps the controller's fields and phase, and replaces the record's own", () => {
    const previous = {
      phase: 'Scheduled' as const,
      runner: { pod: 'p', node: 'n' },
      output: { stream: 'S', subject: 'exec.ns.e1.out', bytes: 9 },
      result: 'old',
    };
    const queued = statusOf(record({ status: 'queued', startedAt: undefined }), previous, 2, 'T1');
    expect(queued).toMatchObject({ phase: 'Scheduled', runner: { pod: 'p' }, observedGeneration: 2 });
    expect(queued.output).toEqual({ stream: 'S', subject: 'exec.ns.e1.out' });
    expect(queued.result).toBeUndefined();
    expect(queued.conditions).toEqual([
      expect.objectContaining({
        type: 'Succeeded',
        status: 'Unknown',
        reason: 'Scheduled',
        lastTransitionTime: 'T1',
      }),
    ]);
    const running = statusOf(record(), queued, 2, 'T2');
    expect(running.phase).toBe('Running');
    // The condition is still Unknown: its transition time stays.
    expect(running.conditions?.[0]).toMatchObject({ reason: 'Running', lastTransitionTime: 'T1' });
  });

  it('writes the runner pod and its node, and reads them back', () => {
    const r = record({ runner: 'default-x1', runnerNode: 'node-1' });
    const ex = asExecution(r);
    expect(ex.status?.runner).toEqual({ pod: 'default-x1', node: 'node-1' });
    expect(recordOf(ex)).toStrictEqual(r);
    // A pod whose node is not known: none is written, and none is kept from another pod.
    const moved = statusOf(record({ runner: 'default-y2' }), ex.status, 3, 'T');
    expect(moved.runner).toEqual({ pod: 'default-y2' });
  });

  it('patches the node with its pod: another pod without a node clears it', () => {
    const on = record({ runner: 'default-x1', runnerNode: 'node-1' });
    expect(patchRecord(on, {})).toBe(on);
    expect(patchRecord(on, { status: 'completed' })).toMatchObject({
      runner: 'default-x1',
      runnerNode: 'node-1',
    });
    expect(patchRecord(on, { runner: 'default-x1' }).runnerNode).toBe('node-1');
    expect(patchRecord(on, { runner: 'default-y2', runnerNode: 'node-2' })).toMatchObject({
      runner: 'default-y2',
      runnerNode: 'node-2',
    });
    expect(patchRecord(on, { runner: 'default-y2' })).not.toHaveProperty('runnerNode');
  });

  it('summarises a failure: reason, "Name: message" condition, derived duration and heap', () => {
    const r = record({
      status: 'failed',
      completedAt: '2026-01-01T00:00:01.250Z',
      outcome: {
        status: 'failed',
        error: { reason: 'Error', name: 'TypeError', message: 'boom', stack: 'at <cell>:1' },
        effectiveHeapMb: 8,
        durationMs: 3,
        outputBytes: 5,
        outputTruncated: true,
      },
    });
    const ex = asExecution(r);
    expect(ex.status?.conditions?.[0]).toMatchObject({
      status: 'False',
      reason: 'Error',
      message: 'TypeError: boom',
    });
    expect(recordOf(ex)).toStrictEqual({
      ...r,
      outcome: {
        status: 'failed',
        error: { reason: 'Error', name: 'TypeError', message: 'boom' },
        effectiveHeapMb: 8,
        durationMs: 250,
        outputBytes: 5,
        outputTruncated: true,
      },
    });
  });

  it('reads RunnerLost back as the outcome reason (a domain reason since runner pods exist)', () => {
    const r = record({ status: 'failed', completedAt: '2026-01-01T00:00:02.000Z' });
    const ex = asExecution(r, {
      ...statusOf(r, undefined, 1, 'T'),
      error: { reason: 'RunnerLost', message: 'pod deleted' },
      output: { bytes: 0 },
    });
    expect(recordOf(ex).outcome?.error).toEqual({
      reason: 'RunnerLost',
      name: 'Error',
      message: 'pod deleted',
    });
  });

  it('has no outcome without one, and reads an object without status as queued', () => {
    const cancelled = record({ status: 'cancelled', completedAt: '2026-01-01T00:00:02.000Z' });
    expect(recordOf(asExecution(cancelled)).outcome).toBeUndefined();
    const bare = asExecution(record({ startedAt: undefined }));
    delete bare.status;
    expect(recordOf(bare)).toMatchObject({ status: 'queued', createdAt: '2026-01-01T00:00:00.123Z' });
  });

  it('cuts a result to the bound without splitting a surrogate pair', () => {
    expect(boundResult('short')).toEqual({ text: 'short', cut: false });
    const atBound = 'x'.repeat(EXECUTION_RESULT_MAX_CHARS);
    expect(boundResult(atBound)).toEqual({ text: atBound, cut: false });
    const split = boundResult('x'.repeat(EXECUTION_RESULT_MAX_CHARS - 1) + '😀');
    expect(split).toEqual({ text: 'x'.repeat(EXECUTION_RESULT_MAX_CHARS - 1), cut: true });
  });
});

describe('paging helpers', () => {
  it('round-trips cursors and refuses foreign ones', () => {
    expect(decodeCursor(encodeCursor({ ms: 5, id: 'a' }))).toEqual({ ms: 5, id: 'a' });
    for (const bad of [
      'garbage!',
      encodeCursor({ ms: -1, id: 'a' }),
      Buffer.from('[1]').toString('base64url'),
    ]) {
      expect(() => decodeCursor(bad)).toThrow(expect.objectContaining({ code: 'MCPV8_ERR_INPUT_INVALID' }));
    }
  });

  it('keeps the newest keys, ties broken by id, each once', () => {
    const top = new NewestFirst(3);
    for (const [ms, id] of [
      [1, 'a'],
      [3, 'b'],
      [2, 'c'],
      [3, 'd'],
      [3, 'b'],
      [0, 'e'],
      [2, 'f'],
    ] as const) {
      top.add({ ms, id });
    }
    expect(top.keys()).toEqual([
      { ms: 3, id: 'd' },
      { ms: 3, id: 'b' },
      { ms: 2, id: 'f' },
    ]);
  });

  it('builds label selectors with integer comparisons', () => {
    expect(selector(phaseRequirement('queued'), createdAtOrBefore(10))).toBe(
      'mcpv8.dev/created-ms,mcpv8.dev/phase in (Pending,Scheduled),mcpv8.dev/created-ms<11',
    );
    expect(createdAtOrAfter(10)).toBe('mcpv8.dev/created-ms>9');
    expect(createdAtOrAfter(0)).toBeUndefined();
  });

  it('writes a merge patch that removes what the target lacks', () => {
    expect(mergePatch({ a: 1, b: { c: 1, d: 2 }, e: [1] }, { b: { c: 3 }, e: [2] })).toEqual({
      a: null,
      b: { c: 3, d: null },
      e: [2],
    });
    expect(mergePatch(undefined, { a: 1 })).toEqual({ a: 1 });
  });
});
