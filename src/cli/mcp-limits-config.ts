/**
 * The flags bounding MCP over HTTP, shared by the embedded server and the cluster gateway:
 * session idle expiry, sessions in all and per client, and the bytes queued toward a client that
 * does not read its stream. Each has an `MCP_V8_*` environment equivalent.
 */
import {
  DEFAULT_MCP_SESSION_LIMITS as DEFAULTS,
  DEFAULT_MCP_STREAM_BUFFER_BYTES,
  type HttpAppOptions,
} from '../gateway/http-app.ts';

/** Flag → [type, help], in the form of the CLI flag tables. */
export const MCP_LIMIT_FLAGS = {
  'mcp-session-idle-timeout': [
    'string',
    'MCP over HTTP: seconds a session may go without a request before it is closed, 1–86400 (default 1800)',
  ],
  'mcp-max-sessions': ['string', 'MCP over HTTP: sessions open at once in all, 1–100000 (default 1000)'],
  'mcp-max-sessions-per-client': [
    'string',
    'MCP over HTTP: sessions one client (bearer token, else address) may hold, 1–100000 (default 100)',
  ],
  'mcp-stream-buffer-kib': [
    'string',
    'MCP over HTTP: KiB queued toward a client not reading its stream before notifications are dropped, 16–1048576 (default 1024)',
  ],
} as const;

export type McpLimitFlag = keyof typeof MCP_LIMIT_FLAGS;

/** Flag → [min, max, default]; the defaults are the HTTP app's own. */
export const MCP_LIMIT_RANGES: Readonly<Record<McpLimitFlag, readonly [number, number, number]>> = {
  'mcp-session-idle-timeout': [1, 86_400, DEFAULTS.idleTimeoutMs / 1000],
  'mcp-max-sessions': [1, 100_000, DEFAULTS.maxSessions],
  'mcp-max-sessions-per-client': [1, 100_000, DEFAULTS.maxPerClient],
  'mcp-stream-buffer-kib': [16, 1 << 20, DEFAULT_MCP_STREAM_BUFFER_BYTES / 1024],
};

export interface McpLimitsConfig {
  /** A session without a request for this long is closed, seconds. */
  sessionIdleSecs: number;
  maxSessions: number;
  maxSessionsPerClient: number;
  /** Bytes queued toward one client's stream before its notifications are dropped, KiB. */
  streamBufferKib: number;
}

/** The limits, each read with `int(flag, min, max, default)` (which reports a bad value). */
export function readMcpLimits(
  int: (flag: McpLimitFlag, min: number, max: number, dflt: number) => number,
): McpLimitsConfig {
  const read = (flag: McpLimitFlag) => int(flag, ...MCP_LIMIT_RANGES[flag]);
  return {
    sessionIdleSecs: read('mcp-session-idle-timeout'),
    maxSessions: read('mcp-max-sessions'),
    maxSessionsPerClient: read('mcp-max-sessions-per-client'),
    streamBufferKib: read('mcp-stream-buffer-kib'),
  };
}

/** The HTTP app options these limits stand for. */
export function mcpLimitOptions(
  c: McpLimitsConfig,
): Pick<HttpAppOptions, 'mcpSessions' | 'mcpStreamBufferBytes'> {
  return {
    mcpSessions: {
      idleTimeoutMs: c.sessionIdleSecs * 1000,
      maxSessions: c.maxSessions,
      maxPerClient: c.maxSessionsPerClient,
    },
    mcpStreamBufferBytes: c.streamBufferKib * 1024,
  };
}
