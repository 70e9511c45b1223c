// ExecutionEvents: end-only subscriptions fire once and are gone afterwards; unsubscribing
// early drops them; watch() cleans up after the end too.
import { describe, expect, it, vi } from 'vitest';
import { ExecutionEvents } from '../../src/controller/execution-events.ts';

describe('ExecutionEvents', () => {
  it('tells an end listener once, then forgets it', () => {
    const events = new ExecutionEvents();
    const ended = vi.fn();
    events.onEnd('a', ended);
    events.onEnd('b', () => {});
    expect(events.listenerCount).toBe(2);
    events.end('a', 'completed');
    events.end('a', 'completed');
    expect(ended).toHaveBeenCalledTimes(1);
    expect(ended).toHaveBeenCalledWith('completed');
    expect(events.listenerCount).toBe(1);
  });

  it('drops an end listener unsubscribed before the end', () => {
    const events = new ExecutionEvents();
    const ended = vi.fn();
    const unsubscribe = events.onEnd('a', ended);
    unsubscribe();
    unsubscribe();
    events.end('a', 'failed');
    expect(ended).not.toHaveBeenCalled();
    expect(events.listenerCount).toBe(0);
  });

  it('forgets a watcher when its execution ends', () => {
    const events = new ExecutionEvents();
    const lines: string[] = [];
    const end = vi.fn();
    events.watch('a', { line: (_level, text) => lines.push(text), end });
    events.line('a', 'log', 'hello');
    events.end('a', 'completed');
    events.line('a', 'log', 'late');
    expect(lines).toEqual(['hello']);
    expect(end).toHaveBeenCalledWith('completed');
    expect(events.listenerCount).toBe(0);
  });
});
