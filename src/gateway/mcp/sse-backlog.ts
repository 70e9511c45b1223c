/**
 * Bounds the bytes queued toward an MCP client that does not read its SSE stream. Console lines
 * of an execution reach a session as `notifications/message` on its stream (the GET /mcp stream
 * of Streamable HTTP, or the legacy /sse stream); nothing in the SDK limits what waits for a
 * client that stopped reading, so without this one chatty execution queues hundreds of MiB.
 *
 * Each stream has a meter of what is queued toward it. A notification that would take it past
 * the limit is dropped (the output stays readable with get_execution_output); once the client
 * catches up, one `notifications/message` marker (level warning, logger `mcp-v8`) says how
 * many were dropped. Anything else (a response, a server request) is never dropped, but a stream
 * already holding more than twice the limit is closed instead of growing: the client reconnects
 * and reads the rest through the tools.
 */
import type { ServerResponse } from 'node:http';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';

/** What is queued toward one stream's client. */
export interface StreamMeter {
  /** Bytes waiting in this process for the client to read them. */
  queuedBytes(): number;
  /** `message` is about to be written to the stream. */
  willSend(message: JSONRPCMessage): void;
  /** Ends the stream at once, discarding what is queued. */
  destroy(): void;
}

/** Bytes of the SSE event the SDK writes for `message` (`event: message\ndata: <json>\n\n`). */
export function sseEventBytes(message: JSONRPCMessage): number {
  return Buffer.byteLength(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}

/** Legacy SSE: the SDK writes each message straight into the response, so its buffer is the queue. */
export function responseMeter(res: ServerResponse): StreamMeter {
  return {
    queuedBytes: () => res.writableLength,
    willSend: () => {},
    destroy: () => void res.destroy(),
  };
}

/**
 * The GET /mcp stream of Streamable HTTP: the SDK enqueues each message into a web stream that
 * the response pulls from only as the socket drains (so `res.writableLength` stays small while
 * the queue grows). Queued = bytes sent through the SDK − bytes the response has pulled (counted
 * at `res.write`; the SDK's `: keepalive` comments are not ours) + what the response buffers.
 */
export class PulledStreamMeter implements StreamMeter {
  readonly #res: ServerResponse;
  #sent = 0;
  #pulled = 0;

  constructor(res: ServerResponse) {
    this.#res = res;
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    // Counting only: the arguments go through unchanged.
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) {
        const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
        const comment = typeof chunk === 'string' ? chunk.startsWith(':') : chunk[0] === 0x3a;
        if (!comment) this.#pulled += bytes;
      }
      return write(chunk, ...rest);
    }) as ServerResponse['write'];
  }

  queuedBytes(): number {
    return Math.max(0, this.#sent - this.#pulled) + this.#res.writableLength;
  }

  willSend(message: JSONRPCMessage): void {
    this.#sent += sseEventBytes(message);
  }

  destroy(): void {
    this.#res.destroy();
  }
}

/** Counts of one session's bounded stream (for tests and metrics). */
export interface BacklogCounts {
  dropped: number;
  closedStreams: number;
}

/**
 * Gates `transport.send` of one session: messages for which `streamFor` names a meter are
 * bounded as described above; the rest pass untouched. Returns live counts.
 */
export function boundStreamBacklog(
  transport: Transport,
  limitBytes: number,
  streamFor: (message: JSONRPCMessage, options?: TransportSendOptions) => StreamMeter | undefined,
): BacklogCounts {
  const counts: BacklogCounts = { dropped: 0, closedStreams: 0 };
  let droppedSinceMarker = 0;
  const send = transport.send.bind(transport);
  transport.send = async (message, options) => {
    const stream = streamFor(message, options);
    if (!stream) return send(message, options);
    const queued = stream.queuedBytes();
    if (isJSONRPCNotification(message)) {
      if (queued + sseEventBytes(message) > limitBytes) {
        counts.dropped += 1;
        droppedSinceMarker += 1;
        return;
      }
    } else if (queued > 2 * limitBytes) {
      counts.closedStreams += 1;
      stream.destroy();
      return;
    }
    if (droppedSinceMarker > 0) {
      const marker = droppedMarker(droppedSinceMarker);
      droppedSinceMarker = 0;
      stream.willSend(marker);
      await send(marker, options);
    }
    stream.willSend(message);
    return send(message, options);
  };
  return counts;
}

function droppedMarker(dropped: number): JSONRPCMessage {
  return {
    jsonrpc: '2.0',
    method: 'notifications/message',
    params: {
      level: 'warning',
      logger: 'mcp-v8',
      data: {
        dropped_notifications: dropped,
        message:
          `${dropped} notifications were dropped because this client did not read its stream; ` +
          'get_execution_output has every console line',
      },
    },
  };
}

/** True for a response (which Streamable HTTP sends on the stream of its request, never on GET). */
export function isResponse(message: JSONRPCMessage): boolean {
  return isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message);
}
