/**
 * The embedded server's configuration: seed-compatible flags, `MCP_V8_*` environment
 * equivalents (flags win), defaults, ranges and conflicts, validated once into a frozen Config.
 * Every problem is reported together as MCPV8_ERR_CONFIG_INVALID (the CLI exits 2).
 */
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Mcpv8Error } from '../core/index.ts';
import {
  NATS_FLAGS,
  readNats,
  readStorage,
  STORAGE_FLAGS,
  type NatsConfig,
  type StorageConfig,
} from './storage-config.ts';
import { POLICY_FLAGS, readPolicies, type PolicyConfig } from './policy-config.ts';
import { FETCH_FLAGS, readFetchConfig, type FetchConfig } from './fetch-config.ts';
import { MCP_LIMIT_FLAGS, readMcpLimits, type McpLimitsConfig } from './mcp-limits-config.ts';
import { DEFAULT_CELLS_PER_ISOLATE } from '../runner/sandbox/isolate-reuse.ts';

export interface Config {
  transport: 'stdio' | 'http' | 'sse';
  port?: number;
  host: string;
  authTokens: readonly string[];
  heapMemoryMaxMb: number;
  executionTimeoutSecs: number;
  maxConcurrentExecutions: number;
  maxQueuedExecutions: number;
  dataDir: string;
  retentionHours: number;
  /** Stateless cells one isolate serves (each in a fresh context) before it is replaced. */
  cellsPerIsolate: number;
  /** Stateful mode: isolates each runner process keeps live for the next cell of their session. */
  liveHeaps: number;
  /** Stateful mode: a live isolate unused this long is disposed (the session then replays). */
  liveHeapIdleSecs: number;
  storage: StorageConfig;
  /** Multi-node: the NATS server the nodes share (absent: a single node, SQLite). */
  nats?: NatsConfig;
  sessionDbPath: string;
  cdnBase: string;
  wasmModules: readonly string[];
  wasmConfig?: string;
  policies: PolicyConfig;
  /** Header injection rules of fetch() (secrets: never logged, sent to runners over IPC). */
  fetch: FetchConfig;
  /** Bounds of MCP over HTTP: session idle expiry and counts, stream buffer. */
  mcp: McpLimitsConfig;
  logLevel: string;
}

/** Flag → [type, help]. The environment variable is MCP_V8_ + the flag in upper snake case. */
export const FLAGS = {
  'http-port': ['string', 'Serve MCP (Streamable HTTP at /mcp) and the REST API on this port'],
  'sse-port': [
    'string',
    'Serve MCP over the legacy SSE transport (/sse, /message) and the REST API on this port',
  ],
  host: ['string', 'Bind address for --http-port/--sse-port (default 127.0.0.1)'],
  'auth-token': ['string', 'Bearer token HTTP callers must send (repeatable; env: comma-separated)'],
  'heap-memory-max': [
    'string',
    'Default isolate heap cap per execution, MiB, 1–64 (default 8; below 8 runs with 8)',
  ],
  'execution-timeout': ['string', 'Default wall-clock limit per execution, seconds, 1–300 (default 30)'],
  'max-concurrent-executions': ['string', 'Executions running at once (default: number of CPU cores)'],
  'max-queued-executions': [
    'string',
    'Executions waiting at once before calls get 429 / a queue-full error (default 1000)',
  ],
  'data-dir': ['string', 'Where execution records and output are kept (default ~/.local/share/mcp-v8)'],
  'cells-per-isolate': [
    'string',
    'Stateless cells one isolate serves, each in a fresh context, before it is replaced, 1–10000 (default 100; 1: a new isolate per cell)',
  ],
  'live-heaps': [
    'string',
    'Stateful mode: isolates each runner keeps live for the next cell of a session, 0–256 (default 64; at most 256 MiB of V8 heap per runner)',
  ],
  'live-heap-idle-secs': [
    'string',
    'Stateful mode: seconds a live isolate may stay unused before it is disposed (default 900)',
  ],
  'retention-hours': [
    'string',
    'Finished executions and their output are deleted after this many hours (default 24)',
  ],
  ...STORAGE_FLAGS,
  ...NATS_FLAGS,
  'session-db-path': [
    'string',
    'Directory of the session log and heap tags (default /tmp/mcp-v8-sessions; not with --stateless)',
  ],
  'cdn-base': ['string', 'Base URL for npm: and jsr: imports (default https://esm.sh)'],
  'wasm-module': ['string', 'Pre-load a WebAssembly module as a global: name=path (repeatable)'],
  'wasm-config': ['string', 'JSON file {"name": "path.wasm", …} of modules to pre-load'],
  ...POLICY_FLAGS,
  ...FETCH_FLAGS,
  ...MCP_LIMIT_FLAGS,
  'log-level': ['string', 'fatal, error, warn, info, debug or trace (default info)'],
  help: ['boolean', 'Show this help'],
} as const;

type FlagName = keyof typeof FLAGS;
const MULTI: ReadonlySet<FlagName> = new Set(['auth-token', 'wasm-module', 'fetch-header']);

export function helpText(): string {
  const rows = Object.entries(FLAGS).map(([name, [type, help]]) => {
    const flag = `--${name}${type === 'string' ? ' <value>' : ''}`;
    return `  ${flag.padEnd(38)} ${help}`;
  });
  return `mcp-v8 — run JavaScript/TypeScript for AI agents in V8 isolates, over MCP

Usage: mcp-v8 [options]            (stdio MCP server unless --http-port or --sse-port is given)

Options:
${rows.join('\n')}

Every option can also be set with an environment variable: MCP_V8_<OPTION> (e.g. MCP_V8_HTTP_PORT=3000).
`;
}

export function envName(flag: string): string {
  return `MCP_V8_${flag.replaceAll('-', '_').toUpperCase()}`;
}

/** Parses argv and env. @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID listing every problem. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config | 'help' {
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(FLAGS).map(([name, [type]]) => [
          name,
          { type, multiple: MULTI.has(name as FlagName) },
        ]),
      ),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [(err as Error).message]);
  }
  if (values.help) return 'help';
  const problems: string[] = [];
  const get = (flag: FlagName): string | boolean | Array<string | boolean> | undefined => {
    if (values[flag] !== undefined) return values[flag];
    const e = env[envName(flag)];
    if (e === undefined || e === '') return undefined;
    if (FLAGS[flag][0] === 'boolean') return e === '1' || e.toLowerCase() === 'true';
    return MULTI.has(flag)
      ? e
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : e;
  };
  const str = (flag: FlagName) => get(flag) as string | undefined;
  const int = (flag: FlagName, min: number, max: number, dflt: number): number => {
    const raw = str(flag);
    if (raw === undefined) return dflt;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= min && n <= max)) {
      problems.push(`--${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
      return dflt;
    }
    return n;
  };

  const httpPort = str('http-port') === undefined ? undefined : int('http-port', 1, 65535, 0);
  const ssePort = str('sse-port') === undefined ? undefined : int('sse-port', 1, 65535, 0);
  if (httpPort !== undefined && ssePort !== undefined)
    problems.push('--http-port and --sse-port cannot be used together');

  const storage = readStorage({ str, bool: (flag) => get(flag) === true, int }, env, problems);
  if (storage.kind === 'stateless' && str('session-db-path') !== undefined)
    problems.push('--session-db-path cannot be used with --stateless (a stateless server keeps no sessions)');
  const nats = readNats(str, storage, problems);

  const cdnBase = str('cdn-base') ?? 'https://esm.sh';
  if (!/^https?:\/\/[^/]+/.test(cdnBase))
    problems.push(`--cdn-base must be an http(s) URL, got "${cdnBase}"`);
  const logLevel = str('log-level') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`--log-level must be one of fatal, error, warn, info, debug, trace, got "${logLevel}"`);
  }
  const policies = readPolicies({ str }, problems);
  // Its environment form is read there: one rule per line, since rules contain commas.
  const fetch = readFetchConfig(
    { str, argv: (flag) => values[flag] as string[] | undefined },
    env,
    policies.categories.fetch !== undefined,
    problems,
  );
  const authTokens = (get('auth-token') as string[] | undefined) ?? [];
  if (authTokens.some((t) => t.length < 16))
    problems.push('--auth-token values must be at least 16 characters');

  const config: Config = {
    transport: httpPort !== undefined ? 'http' : ssePort !== undefined ? 'sse' : 'stdio',
    port: httpPort ?? ssePort,
    host: str('host') ?? '127.0.0.1',
    authTokens,
    heapMemoryMaxMb: int('heap-memory-max', 1, 64, 8),
    executionTimeoutSecs: int('execution-timeout', 1, 300, 30),
    maxConcurrentExecutions: int('max-concurrent-executions', 1, 1024, availableParallelism()),
    maxQueuedExecutions: int('max-queued-executions', 0, 1_000_000, 1000),
    dataDir: str('data-dir') ?? join(homedir(), '.local', 'share', 'mcp-v8'),
    retentionHours: int('retention-hours', 1, 24 * 365, 24),
    cellsPerIsolate: int('cells-per-isolate', 1, 10_000, DEFAULT_CELLS_PER_ISOLATE),
    liveHeaps: int('live-heaps', 0, 256, 64),
    liveHeapIdleSecs: int('live-heap-idle-secs', 1, 7 * 24 * 3600, 900),
    storage,
    ...(nats && { nats }),
    sessionDbPath: str('session-db-path') ?? '/tmp/mcp-v8-sessions',
    cdnBase,
    wasmModules: (get('wasm-module') as string[] | undefined) ?? [],
    ...(str('wasm-config') && { wasmConfig: str('wasm-config') }),
    policies,
    fetch,
    mcp: readMcpLimits(int),
    logLevel,
  };
  if (problems.length > 0) throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [problems.join('; ')]);
  return Object.freeze(config);
}
