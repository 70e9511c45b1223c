// The send gate of a session's SSE stream, on its own: notifications past the buffer are dropped
// and counted, the client is told how many once it has room again, anything else is never
// dropped but a stream holding more than twice the buffer is closed; messages that go to no
// metered stream pass untouched. (The real streams: mcp-stream-backlog.test.ts.)
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { boundStreamBacklog, sseEventBytes, type StreamMeter } from '../../src/gateway/mcp/sse-backlog.ts';

const LIMIT = 1000;

/** A transport that records what it was asked to send, and a meter whose backlog the test sets. */
function setup(metered = true) {
  const sent: JSONRPCMessage[] = [];
  const transport = {
    start: async () => {},
    close: async () => {},
    send: async (message: JSONRPCMessage) => void sent.push(message),
  } satisfies Transport;
  const meter = {
    queued: 0,
    destroyed: 0,
    queuedBytes() {
      return this.queued;
    },
    willSend(message: JSONRPCMessage) {
      this.queued += sseEventBytes(message);
    },
    destroy() {
      this.destroyed += 1;
    },
  } satisfies StreamMeter & { queued: number; destroyed: number };
  const counts = boundStreamBacklog(transport, LIMIT, () => (metered ? meter : undefined));
  return { sent, transport, meter, counts };
}

const note = (text: string): JSONRPCMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/message',
  params: { level: 'info', data: { text } },
});
const response = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, result: {} });

describe('boundStreamBacklog', () => {
  it('sends notifications while they fit and drops those that would pass the buffer', async () => {
    const { sent, transport, meter, counts } = setup();
    for (let i = 0; i < 50; i++) await transport.send(note(`line ${i}`));
    expect(meter.queued).toBeLessThanOrEqual(LIMIT);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.length + counts.dropped).toBe(50);
    expect(counts.dropped).toBeGreaterThan(0);
  });

  it('tells the client how many it missed before the next notification that fits', async () => {
    const { sent, transport, meter, counts } = setup();
    meter.queued = LIMIT;
    await transport.send(note('a'));
    await transport.send(note('b'));
    expect(sent).toEqual([]);
    meter.queued = 0; // the client read everything
    await transport.send(note('c'));
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({
      method: 'notifications/message',
      params: { level: 'warning', logger: 'mcp-v8', data: { dropped_notifications: 2 } },
    });
    expect(sent[1]).toEqual(note('c'));
    await transport.send(note('d'));
    expect(sent).toHaveLength(3); // one marker per gap
    expect(counts.dropped).toBe(2);
  });

  it('never drops a response, but closes a stream holding more than twice the buffer', async () => {
    const { sent, transport, meter, counts } = setup();
    meter.queued = LIMIT * 2;
    await transport.send(response(1));
    expect(sent).toEqual([response(1)]);
    meter.queued = LIMIT * 2 + 1;
    await transport.send(response(2));
    expect(sent).toEqual([response(1)]);
    expect(meter.destroyed).toBe(1);
    expect(counts.closedStreams).toBe(1);
  });

  it('lets messages for no metered stream through untouched', async () => {
    const { sent, transport } = setup(false);
    for (let i = 0; i < 100; i++) await transport.send(note('x'.repeat(100)));
    expect(sent).toHaveLength(100);
  });
});
