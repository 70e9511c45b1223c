// An embedded HTTP server for the session tests, every path in a fresh temp dir (never the
// /tmp/mcp-v8-* defaults), with direct access to its heap store and session log, so tests can put
// heaps and log entries in place without running cells.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/cli/config.ts';
import { startEmbedded, type RunningServer } from '../../src/cli/embedded.ts';
import type { HeapStore, SessionLog } from '../../src/core/index.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';
import { openSessionDatabase } from '../../src/local/session-database.ts';
import { SqliteSessionLog } from '../../src/local/sqlite-session-log.ts';
import { sampleNode } from '../contract/heap-store.contract.ts';
import { freePort } from '../harness/free-port.ts';

export interface TestServer {
  url: string;
  /** Stateful only: the server's heap store and session log, opened a second time. */
  heaps?: HeapStore;
  log?: SessionLog;
  close(): Promise<void>;
}

/** `extraArgs`: more flags for the server (e.g. MCP session bounds). */
export async function startTestServer(
  mode: 'stateful' | 'stateless',
  extraArgs: readonly string[] = [],
): Promise<TestServer> {
  const root = mkdtempSync(join(tmpdir(), `sessions-test-${mode}-`));
  const heapDir = join(root, 'heaps');
  const sessionDir = join(root, 'sessions');
  const port = await freePort();
  const args = [
    '--http-port',
    String(port),
    '--data-dir',
    join(root, 'data'),
    '--max-concurrent-executions',
    '1',
    '--log-level',
    'silent',
    ...(mode === 'stateful'
      ? ['--directory-path', heapDir, '--session-db-path', sessionDir]
      : ['--stateless']),
    ...extraArgs,
  ];
  const server: RunningServer = await startEmbedded(
    loadConfig(args, {}) as Config,
    pino({ level: 'silent' }),
  );
  // A second connection to the server's sessions file (WAL: both may read and write).
  const db = mode === 'stateful' ? openSessionDatabase(sessionDir) : undefined;
  return {
    url: server.url!,
    ...(db && { heaps: new DirHeapStore(heapDir), log: new SqliteSessionLog(db) }),
    close: async () => {
      await server.close();
      db?.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Stores a distinct heap node and returns its id. */
export function putHeap(heaps: HeapStore, code: string): Promise<string> {
  return heaps.put(sampleNode(code));
}
