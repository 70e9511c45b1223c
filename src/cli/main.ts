#!/usr/bin/env node
/**
 * `mcp-v8`: the embedded server. Parses flags and environment, then runs stdio MCP (default) or
 * the HTTP server. Bad flags: one line on stderr and exit code 2. Logs go to stderr (stdout
 * carries the stdio MCP protocol).
 */
import { pino } from 'pino';
import { isMcpv8Error } from '../core/index.ts';
import { helpText, loadConfig } from './config.ts';
import { startEmbedded } from './embedded.ts';

let config;
try {
  config = loadConfig(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`mcp-v8: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
if (config === 'help') {
  process.stdout.write(helpText());
  process.exit(0);
}

// JSON lines for machines; readable lines when a person watches the terminal.
const log = pino(
  { level: config.logLevel, redact: ['authTokens', 'req.headers.authorization'] },
  process.stderr.isTTY
    ? pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true } })
    : pino.destination({ fd: 2, sync: false }),
);

try {
  const server = await startEmbedded(config, log);
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping');
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await server.closed;
  process.exit(0);
} catch (err) {
  if (isMcpv8Error(err) && err.code === 'MCPV8_ERR_CONFIG_INVALID') {
    process.stderr.write(`mcp-v8: ${err.message}\n`);
    process.exit(2);
  }
  log.fatal({ err }, 'mcp-v8 failed to start');
  process.exit(1);
}
