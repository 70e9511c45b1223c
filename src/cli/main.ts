#!/usr/bin/env node
/**
 * `mcp-v8`: one binary, four roles.
 *   mcp-v8 [serve] [flags]             embedded server (default; stdio MCP or HTTP)
 *   mcp-v8 serve --mode cluster        cluster gateway (Execution CRs, JetStream, S3)
 *   mcp-v8 controller                  cluster controller (settings from MCP_V8_* env)
 *   mcp-v8 runner                      runner pod (settings from flags and MCP_V8_* env)
 * Bad flags: one line on stderr and exit code 2. Logs go to stderr (stdout carries the stdio
 * MCP protocol).
 */
import { pino, type Logger } from 'pino';
import { isMcpv8Error } from '../core/index.ts';

const argv = process.argv.slice(2);
const role = argv[0] === 'controller' || argv[0] === 'runner' || argv[0] === 'serve' ? argv[0] : 'serve';
const rest = argv[0] === role ? argv.slice(1) : argv;

function fail(err: unknown): never {
  process.stderr.write(`mcp-v8: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}

/** `--mode` of `serve` (or MCP_V8_MODE); removed from the flags the chosen mode parses. */
function takeMode(args: string[]): { mode: string; args: string[] } {
  let mode = process.env.MCP_V8_MODE ?? 'embedded';
  const left: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--mode') mode = args[++i] ?? fail('--mode needs a value: embedded or cluster');
    else if (a.startsWith('--mode=')) mode = a.slice('--mode='.length);
    else left.push(a);
  }
  if (mode !== 'embedded' && mode !== 'cluster') fail(`--mode must be embedded or cluster, got "${mode}"`);
  return { mode, args: left };
}

// JSON lines for machines; readable lines when a person watches the terminal.
function logger(level: string): Logger {
  return pino(
    { level, redact: ['authTokens', 'req.headers.authorization'] },
    process.stderr.isTTY
      ? pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true } })
      : pino.destination({ fd: 2, sync: false }),
  );
}

/** Runs a role until it stops; SIGTERM/SIGINT stop it cleanly. */
async function serveUntilStopped(
  log: Logger,
  start: () => Promise<{ close(): Promise<void>; closed?: Promise<void>; done?: Promise<void> }>,
): Promise<never> {
  try {
    const running = await start();
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    await (running.closed ?? running.done ?? new Promise<void>(() => {}));
    process.exit(0);
  } catch (err) {
    if (isMcpv8Error(err) && err.code === 'MCPV8_ERR_CONFIG_INVALID') fail(err);
    log.fatal({ err }, 'mcp-v8 failed');
    process.exit(1);
  }
}

const logLevel = process.env.MCP_V8_LOG_LEVEL ?? 'info';
if (role === 'runner') {
  const { startRunnerPod } = await import('../runner/pod/runner-pod.ts');
  await startRunnerPod(rest, process.env);
} else if (role === 'controller') {
  const { startController } = await import('../controller/controller-main.ts');
  const log = logger(logLevel);
  await serveUntilStopped(log, () => startController(process.env, log));
} else {
  const { mode, args } = takeMode(rest);
  if (mode === 'cluster') {
    const { loadClusterGatewayConfig } = await import('./cluster-config.ts');
    const { startClusterGateway } = await import('./cluster-gateway.ts');
    let config;
    try {
      config = loadClusterGatewayConfig(args, process.env);
    } catch (err) {
      fail(err);
    }
    const log = logger(logLevel);
    await serveUntilStopped(log, () => startClusterGateway(config, log));
  } else {
    const { helpText, loadConfig } = await import('./config.ts');
    const { startEmbedded } = await import('./embedded.ts');
    let config;
    try {
      config = loadConfig(args, process.env);
    } catch (err) {
      fail(err);
    }
    if (config === 'help') {
      process.stdout.write(helpText());
      process.exit(0);
    }
    const log = logger(config.logLevel);
    await serveUntilStopped(log, () => startEmbedded(config, log));
  }
}
