// EventRecorder: events.k8s.io/v1 shape, bounded note, folding of repeats into a series, the
// global rate limit, and that a failing sink is logged, never thrown.
import type { EventsV1Event } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import {
  EventRecorder,
  MAX_NOTE_BYTES,
  REPORTING_CONTROLLER,
  boundNote,
} from '../../../src/controller/events/event-recorder.ts';

const pool = {
  apiVersion: 'mcpv8.dev/v1alpha1',
  kind: 'RunnerPool',
  metadata: { name: 'default', namespace: 'mcp', uid: 'u1', resourceVersion: '7' },
};

function recorder(opts: { now?: () => number; burst?: number; perSecond?: number; fail?: boolean } = {}) {
  const events: { namespace: string; event: EventsV1Event }[] = [];
  const warn = vi.fn();
  const r = new EventRecorder({
    instance: 'mcp-v8-controller-abc',
    sink: {
      create: (namespace, event) => {
        if (opts.fail) return Promise.reject(new Error('apiserver down'));
        events.push({ namespace, event });
        return Promise.resolve();
      },
    },
    now: opts.now,
    burst: opts.burst,
    perSecond: opts.perSecond,
    log: { warn, debug: vi.fn() },
  });
  return { r, events, warn };
}

describe('EventRecorder', () => {
  it('creates an events.k8s.io/v1 Event regarding the object', async () => {
    const { r, events } = recorder();
    r.record(pool, 'Normal', 'PodCreated', 'created pod default-abcde');
    await r.flush();
    expect(events).toHaveLength(1);
    const { namespace, event } = events[0]!;
    expect(namespace).toBe('mcp');
    expect(event).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { namespace: 'mcp' },
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: 'mcp-v8-controller-abc',
      action: 'PodCreated',
      reason: 'PodCreated',
      type: 'Normal',
      note: 'created pod default-abcde',
      regarding: {
        apiVersion: 'mcpv8.dev/v1alpha1',
        kind: 'RunnerPool',
        name: 'default',
        namespace: 'mcp',
        uid: 'u1',
      },
    });
    expect(event.metadata!.name).toMatch(/^default\.[0-9a-f]+$/);
    expect(event.eventTime.toISOString()).toMatch(/\.\d{6}Z$/);
    expect(event.series).toBeUndefined();
  });

  it('bounds the note to 1 KiB of UTF-8', () => {
    expect(boundNote('short')).toBe('short');
    const long = boundNote('é'.repeat(2000));
    expect(Buffer.byteLength(long, 'utf8')).toBeLessThanOrEqual(MAX_NOTE_BYTES);
    expect(long.endsWith('…')).toBe(true);
  });

  it('folds repeats of object+type+reason within 10 s into one summary with a count', async () => {
    let now = 0;
    const { r, events } = recorder({ now: () => now });
    for (let i = 0; i < 50; i++) r.record(pool, 'Warning', 'PodCreateFailed', `attempt ${i}`);
    r.record(pool, 'Normal', 'PodCreated', 'other reason');
    await r.flush();
    expect(events.map((e) => e.event.reason)).toEqual(['PodCreateFailed', 'PodCreated']);
    now = 10_000;
    r.record(pool, 'Warning', 'PodCreateFailed', 'after the window');
    await r.flush();
    const failed = events.filter((e) => e.event.reason === 'PodCreateFailed').map((e) => e.event);
    expect(failed).toHaveLength(3);
    expect(failed[1]).toMatchObject({ note: 'attempt 49', series: { count: 50 } });
    expect(failed[2]).toMatchObject({ note: 'after the window' });
    expect(failed[2]!.series).toBeUndefined();
  });

  it('sends a pending summary when the window closes on its own', async () => {
    vi.useFakeTimers();
    try {
      const { r, events } = recorder();
      r.record(pool, 'Normal', 'PodDeleted', 'a');
      r.record(pool, 'Normal', 'PodDeleted', 'b');
      await vi.advanceTimersByTimeAsync(10_000);
      await r.flush();
      expect(events.map((e) => e.event.series?.count)).toEqual([undefined, 2]);
      expect(events[1]!.event.note).toBe('b');
    } finally {
      vi.useRealTimers();
    }
  });

  it('drops events past the global rate limit', async () => {
    const { r, events, warn } = recorder({ now: () => 0, burst: 3, perSecond: 1 });
    for (let i = 0; i < 10; i++)
      r.record({ ...pool, metadata: { ...pool.metadata, uid: `u${i}` } }, 'Normal', 'PodCreated', 'x');
    await r.flush();
    expect(events).toHaveLength(3);
    expect(r.dropped).toBe(7);
    expect(warn).toHaveBeenCalled();
  });

  it('logs a failed create and never throws; refuses a reason outside CamelCase', async () => {
    const { r, warn } = recorder({ fail: true });
    expect(() => r.record(pool, 'Warning', 'PodDeleteFailed', 'x')).not.toThrow();
    await r.flush();
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ reason: 'PodDeleteFailed' }),
      'event not recorded',
    );
    r.record(pool, 'Normal', 'not camel', 'x');
    expect(warn).toHaveBeenCalledWith(expect.objectContaining({ reason: 'not camel' }), expect.any(String));
  });
});
