// The flags bounding MCP over HTTP in the embedded server's configuration: defaults, flags and
// their MCP_V8_* environment forms (flags win), ranges, the help text, and the HTTP app options
// they become.
import { describe, expect, it } from 'vitest';
import { helpText, loadConfig, type Config } from '../../src/cli/config.ts';
import { mcpLimitOptions } from '../../src/cli/mcp-limits-config.ts';
import { configProblem } from './config-problem.ts';

describe('MCP client bounds', () => {
  it('defaults to a 30-minute idle expiry, 1000 sessions, 100 per client and a 1 MiB stream buffer', () => {
    const config = loadConfig([], {}) as Config;
    expect(config.mcp).toEqual({
      sessionIdleSecs: 1800,
      maxSessions: 1000,
      maxSessionsPerClient: 100,
      streamBufferKib: 1024,
    });
    expect(mcpLimitOptions(config.mcp)).toEqual({
      mcpSessions: { idleTimeoutMs: 1_800_000, maxSessions: 1000, maxPerClient: 100 },
      mcpStreamBufferBytes: 1 << 20,
    });
  });

  it('reads flags and environment, flags first', () => {
    const config = loadConfig(['--mcp-session-idle-timeout', '1', '--mcp-max-sessions-per-client', '2'], {
      MCP_V8_MCP_SESSION_IDLE_TIMEOUT: '99',
      MCP_V8_MCP_MAX_SESSIONS: '3',
      MCP_V8_MCP_STREAM_BUFFER_KIB: '16',
    }) as Config;
    expect(config.mcp).toEqual({
      sessionIdleSecs: 1,
      maxSessions: 3,
      maxSessionsPerClient: 2,
      streamBufferKib: 16,
    });
  });

  it('refuses values out of range', () => {
    for (const [flag, value] of [
      ['--mcp-session-idle-timeout', '0'],
      ['--mcp-session-idle-timeout', '1.5'],
      ['--mcp-max-sessions', '0'],
      ['--mcp-max-sessions-per-client', '-1'],
      ['--mcp-stream-buffer-kib', '15'],
      ['--mcp-stream-buffer-kib', 'lots'],
    ] as const) {
      expect(configProblem([flag, value])).toContain(flag);
    }
  });

  it('lists the flags in the help', () => {
    for (const flag of [
      '--mcp-session-idle-timeout',
      '--mcp-max-sessions',
      '--mcp-max-sessions-per-client',
      '--mcp-stream-buffer-kib',
    ]) {
      expect(helpText()).toContain(flag);
    }
  });
});
