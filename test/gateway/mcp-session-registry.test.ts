// The bounds of MCP sessions, on the registry alone (fake timers for idle expiry): sessions
// expire when idle but never while a request is in flight; a client past its bound loses its
// least recently used idle session; the total bound takes the oldest idle session of anyone;
// only when every candidate is busy is a new session refused, with a stable retryable code.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { McpSessionRegistry } from '../../src/gateway/mcp/mcp-session-registry.ts';

const IDLE_MS = 1000;
let closed: string[];

beforeEach(() => {
  vi.useFakeTimers();
  closed = [];
});
afterEach(() => {
  vi.useRealTimers();
});

function registry(maxSessions = 10, maxPerClient = 3): McpSessionRegistry {
  return new McpSessionRegistry({ maxSessions, maxPerClient, idleTimeoutMs: IDLE_MS });
}

function open(r: McpSessionRegistry, id: string, client: string): void {
  r.admit(client);
  // Closing a real session ends in its transport's onclose, which removes it.
  r.add(id, client, async () => {
    closed.push(id);
    r.remove(id);
  });
}

describe('McpSessionRegistry', () => {
  it('closes a session idle for the timeout, and not one with a request in flight', () => {
    const r = registry();
    open(r, 'a', 'c1');
    open(r, 'b', 'c1');
    r.begin('b', 'req-1');
    vi.advanceTimersByTime(IDLE_MS * 5);
    expect(closed).toEqual(['a']);
    expect(r.has('a')).toBe(false);
    expect(r.has('b')).toBe(true);
    // The idle time starts again when the request ends.
    r.end('b', 'req-1');
    vi.advanceTimersByTime(IDLE_MS - 1);
    expect(r.has('b')).toBe(true);
    vi.advanceTimersByTime(1);
    expect(closed).toEqual(['a', 'b']);
    expect(r.counts()).toMatchObject({ open: 0, expired: 2 });
  });

  it('restarts the idle time whenever the session is used', () => {
    const r = registry();
    open(r, 'a', 'c1');
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(IDLE_MS - 10);
      r.touch('a');
    }
    expect(r.has('a')).toBe(true);
  });

  it('makes room for a client past its bound by closing its least recently used idle session', () => {
    const r = registry(10, 3);
    open(r, 'a', 'c1');
    open(r, 'b', 'c1');
    open(r, 'c', 'c1');
    r.touch('a'); // b is now the least recently used
    open(r, 'd', 'c1');
    expect(closed).toEqual(['b']);
    expect(r.counts()).toMatchObject({ open: 3, evicted: 1 });
    // Another client is not touched by c1's bound.
    open(r, 'x', 'c2');
    expect(closed).toEqual(['b']);
  });

  it('refuses a client whose sessions are all busy, and admits it again when one frees', () => {
    const r = registry(10, 2);
    open(r, 'a', 'c1');
    open(r, 'b', 'c1');
    r.begin('a', 'k');
    r.begin('b', 'k');
    expect(() => r.admit('c1')).toThrow(
      expect.objectContaining({ code: 'MCPV8_ERR_MCP_SESSION_LIMIT', statusCode: 429, retryable: true }),
    );
    expect(closed).toEqual([]);
    expect(r.counts().refused).toBe(1);
    // Another client still gets in.
    open(r, 'x', 'c2');
    // Ending (DELETE) a session frees its slot at once.
    r.remove('a');
    open(r, 'c', 'c1');
    expect(r.has('c')).toBe(true);
  });

  it('at the total bound closes the oldest idle session of any client, else refuses', () => {
    const r = registry(3, 3);
    open(r, 'a', 'c1');
    open(r, 'b', 'c2');
    open(r, 'c', 'c2');
    open(r, 'd', 'c3');
    expect(closed).toEqual(['a']);
    for (const id of ['b', 'c', 'd']) r.begin(id, 'k');
    expect(() => r.admit('c4')).toThrow(expect.objectContaining({ code: 'MCPV8_ERR_MCP_SESSION_LIMIT' }));
  });

  it('treats request keys apart: a session is idle only when all of its requests ended', () => {
    const r = registry();
    open(r, 'a', 'c1');
    r.begin('a', 'number:1');
    r.begin('a', 'number:2');
    r.end('a', 'number:1');
    r.end('a', 'number:1');
    vi.advanceTimersByTime(IDLE_MS * 3);
    expect(r.has('a')).toBe(true);
    r.end('a', 'number:2');
    vi.advanceTimersByTime(IDLE_MS);
    expect(r.has('a')).toBe(false);
  });

  it('closes every session on shutdown', async () => {
    const r = registry();
    open(r, 'a', 'c1');
    open(r, 'b', 'c2');
    await r.closeAll();
    expect(closed.sort()).toEqual(['a', 'b']);
    expect(r.counts().open).toBe(0);
  });
});
