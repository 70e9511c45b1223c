/**
 * Composition root of the embedded mode: gateway + scheduler in this process, runners as
 * supervised child processes, records and output in SQLite under the data dir. No external
 * service is needed. With --nats-url the node joins a multi-node cluster instead: records,
 * output, session log and heap tags in NATS JetStream, heaps in S3; it still runs what it
 * accepts on its own runners.
 */
import { join } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Logger } from 'pino';
import { ExecutionEvents } from '../controller/execution-events.ts';
import { ExecutionMetrics } from '../controller/execution-metrics.ts';
import { ExecutionScheduler } from '../controller/execution-scheduler.ts';
import { openEmbeddedNode, type EmbeddedNode } from '../cluster/embedded-node.ts';
import { NodeCancelBus } from '../cluster/node-cancel-bus.ts';
import { sweepRetention } from '../controller/retention.ts';
import { effectiveHeapMb } from '../core/index.ts';
import { ExecutionService, serverLimits } from '../gateway/execution-service.ts';
import { buildHttpApp } from '../gateway/http-app.ts';
import { createMcpServer } from '../gateway/mcp/mcp-server.ts';
import { SessionService } from '../gateway/session-service.ts';
import { ChildRunnerPool } from '../local/child-runner-pool.ts';
import { openSessionDatabase } from '../local/session-database.ts';
import { openDatabase } from '../local/sqlite-database.ts';
import { SqliteExecutionStore } from '../local/sqlite-execution-store.ts';
import { SqliteHeapTagStore } from '../local/sqlite-heap-tags.ts';
import { SqliteOutputLog } from '../local/sqlite-output-log.ts';
import { SqliteSessionLog } from '../local/sqlite-session-log.ts';
import { MAX_CELL_CHARS } from '../runner/protocol.ts';
import { loadWasmModules, parseWasmModuleSpecs } from '../runner/wasm-modules.ts';
import type { Config } from './config.ts';
import { mcpLimitOptions } from './mcp-limits-config.ts';
import { openHeapStore } from './heap-storage.ts';
import { DEFAULT_FILESYSTEM_OPTIONS } from '../runner/host/fs-capability.ts';
import { startPolicies } from './policy-runtime.ts';

const RETENTION_SWEEP_MS = 10 * 60_000;

export interface RunningServer {
  /** Base URL when serving HTTP. */
  url?: string;
  /** Multi-node: this node's id (what `runner` says of the executions it runs). */
  node?: string;
  /** Resolves when the server stopped by itself (stdio closed). */
  closed: Promise<void>;
  close(): Promise<void>;
}

export async function startEmbedded(config: Config, log: Logger): Promise<RunningServer> {
  // Checked here so a bad module is a start-up error, not a crash loop of runners.
  const wasmSpecs = parseWasmModuleSpecs(config.wasmModules, config.wasmConfig);
  loadWasmModules(wasmSpecs);
  // Before any runner: a local policy OPA refuses is a start-up error, and runners need its URL.
  const policies = await startPolicies(config.policies, log);

  const heaps = openHeapStore(config.storage);
  // Before any runner, so an unreachable NATS server leaves nothing running behind.
  const node =
    config.nats &&
    (await openNode(config).catch(async (err: unknown) => {
      await policies.close();
      throw err;
    }));
  // Up to 16 processes; beyond that, each runner takes several executions at once.
  const processes = Math.min(config.maxConcurrentExecutions, 16);
  const runners = new ChildRunnerPool({
    runners: processes,
    concurrencyPerRunner: Math.ceil(config.maxConcurrentExecutions / processes),
    runner: {
      defaultHeapMb: effectiveHeapMb(config.heapMemoryMaxMb),
      cdnBase: config.cdnBase,
      wasmModules: Object.fromEntries(wasmSpecs.map((s) => [s.name, s.path])),
      policies: policies.resolved,
      cellsPerIsolate: config.cellsPerIsolate,
      liveHeaps: config.liveHeaps,
      liveHeapIdleMs: config.liveHeapIdleSecs * 1000,
      // Secrets: options reach runners over IPC, never argv.
      fetch: { headerRules: [...config.fetch.headerRules] },
      ...(config.policies.filesystemRoots && {
        filesystem: { ...DEFAULT_FILESYSTEM_OPTIONS, roots: [...config.policies.filesystemRoots] },
      }),
    },
    heaps,
  });
  // Stateful mode only: the session log and heap tags (single node: their own file under
  // --session-db-path).
  const sessionDb = heaps && !node ? openSessionDatabase(config.sessionDbPath) : undefined;
  const sessionLog = heaps && (node?.sessionLog ?? (sessionDb && new SqliteSessionLog(sessionDb)));
  const heapTags = heaps && (node?.heapTags ?? (sessionDb && new SqliteHeapTagStore(sessionDb)));
  const sessions =
    heaps && sessionLog && heapTags
      ? new SessionService({ log: sessionLog, tags: heapTags, heaps })
      : undefined;
  const db = node ? undefined : openDatabase(join(config.dataDir, 'mcp-v8.db'));
  const store = node?.store ?? new SqliteExecutionStore(db!);
  const output = node?.output ?? new SqliteOutputLog(db!);
  // The metrics read the scheduler lazily (at scrape time), so it can be created after them.
  const metrics: ExecutionMetrics = new ExecutionMetrics({
    queue: () => scheduler.stats(),
    runners: () => runners.stats(),
  });
  const events = new ExecutionEvents();
  const scheduler: ExecutionScheduler = new ExecutionScheduler({
    store,
    output,
    runners,
    events,
    maxConcurrent: config.maxConcurrentExecutions,
    maxQueued: config.maxQueuedExecutions,
    observer: metrics,
    ...(sessionLog && heapTags && { sessions: { log: sessionLog, tags: heapTags } }),
    ...(node && {
      node: { id: node.id, cancelRemote: (owner, ns, id) => cancelBus!.request(owner, ns, id) },
    }),
  });
  const cancelBus: NodeCancelBus | undefined =
    node &&
    new NodeCancelBus({
      nc: node.nc,
      prefix: node.prefix,
      node: node.id,
      cancelLocal: (ns, id) => scheduler.cancelLocal(ns, id),
      onError: (err) => log.error({ err }, 'answering a cancel request failed'),
    });
  const recovered = await scheduler.recover();
  if (recovered > 0) log.warn({ recovered }, 'marked executions interrupted by a previous stop as failed');
  const service = new ExecutionService({
    store,
    output,
    scheduler,
    events,
    limits: serverLimits(config.heapMemoryMaxMb, config.executionTimeoutSecs),
    maxCodeChars: MAX_CELL_CHARS,
    heaps,
  });

  const sweep = setInterval(() => {
    sweepRetention({ store, output, retentionHours: config.retentionHours })
      .then((deleted) => deleted > 0 && log.info({ deleted }, 'retention: deleted finished executions'))
      .catch((err: unknown) => log.error({ err }, 'retention sweep failed'));
  }, RETENTION_SWEEP_MS);
  sweep.unref();

  let stopped = false;
  let onStop: () => void = () => {};
  const closed = new Promise<void>((resolve) => (onStop = resolve));
  let closeFront: () => Promise<void> = async () => {};
  const close = async () => {
    if (stopped) return closed;
    stopped = true;
    clearInterval(sweep);
    await closeFront();
    await scheduler.stop();
    await cancelBus?.close();
    await runners.close();
    await policies.close();
    db?.close();
    sessionDb?.close();
    await node?.close();
    onStop();
  };

  await runners.whenReady();
  if (config.transport === 'stdio') {
    const server = createMcpServer(service, 'default', sessions);
    const transport = new StdioServerTransport();
    transport.onclose = () => void close();
    closeFront = () => server.close();
    await server.connect(transport);
    log.info('mcp-v8 ready on stdio');
    return { closed, close, ...(node && { node: node.id }) };
  }

  const port = config.port!;
  const hosts = [`${config.host}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
  const app = buildHttpApp({
    service,
    sessions,
    bodyLimit: 2 * MAX_CELL_CHARS + 4096,
    isReady: () => runners.stats().ready > 0,
    allowedHosts: config.host === '0.0.0.0' || config.host === '::' ? [] : hosts,
    allowedOrigins: hosts.map((h) => `http://${h}`),
    authTokens: config.authTokens,
    metrics: metrics.registry,
    ...mcpLimitOptions(config.mcp),
  });
  closeFront = () => app.close();
  const url = await app.listen({ host: config.host, port });
  log.info({ url, transport: config.transport, ...(node && { node: node.id }) }, 'mcp-v8 ready');
  return { url, closed, close, ...(node && { node: node.id }) };
}

/** Joins the multi-node cluster of --nats-url. */
async function openNode(config: Config): Promise<EmbeddedNode> {
  const nats = config.nats!;
  return openEmbeddedNode({
    url: nats.url,
    ...(nats.token !== undefined && { token: nats.token }),
    ...(nats.nodeId !== undefined && { nodeId: nats.nodeId }),
    prefix: nats.prefix,
    dataDir: config.dataDir,
  });
}
