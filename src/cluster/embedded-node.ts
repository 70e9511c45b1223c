/**
 * One node of a multi-node embedded cluster: the stores every node shares through NATS
 * JetStream (execution records, output, session log, heap tags; heaps are in S3), this node's
 * id, and the connection. Names derive from a prefix (default `MCPV8`), so several clusters can
 * share one NATS server:
 *   KV `<P>_EXECUTIONS`, `<P>_SESSIONS`, `<P>_HEAP_TAGS`; stream `<P>_OUTPUT` with subjects
 *   `<P>.exec.default.<id>.out…`; cancel requests on `<P>.node.<node>.cancel`.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ExecutionRecord, ExecutionStore } from '../core/execution-store.ts';
import { JetStreamOutputLog } from './jetstream-output-log.ts';
import { KvExecutionStore } from './kv-execution-store.ts';
import { KvHeapTagStore } from './kv-heap-tags.ts';
import { KvSessionLog } from './kv-session-log.ts';

export interface EmbeddedNodeOptions {
  url: string;
  token?: string;
  /** Absent: the id kept in `<dataDir>/node-id`, generated on first start. */
  nodeId?: string;
  prefix: string;
  dataDir: string;
}

export interface EmbeddedNode {
  nc: NatsConnection;
  id: string;
  prefix: string;
  /** Records this node creates carry its id in `runner`. */
  store: ExecutionStore;
  output: JetStreamOutputLog;
  sessionLog: KvSessionLog;
  heapTags: KvHeapTagStore;
  close(): Promise<void>;
}

/** Connects and opens (creating when missing) the shared buckets and stream. */
export async function openEmbeddedNode(opts: EmbeddedNodeOptions): Promise<EmbeddedNode> {
  const id = opts.nodeId ?? keptNodeId(opts.dataDir);
  const nc = await connect({
    servers: opts.url.split(',').map((s) => s.trim()),
    ...(opts.token !== undefined && { token: opts.token }),
    name: `mcp-v8 node ${id}`,
  });
  try {
    const P = opts.prefix;
    const [records, output, sessionLog, heapTags] = await Promise.all([
      KvExecutionStore.open(nc, { bucket: `${P}_EXECUTIONS` }),
      JetStreamOutputLog.open(nc, {
        stream: `${P}_OUTPUT`,
        subjectPrefix: `${P}.exec`,
        namespace: 'default',
      }),
      KvSessionLog.open(nc, { bucket: `${P}_SESSIONS` }),
      KvHeapTagStore.open(nc, { bucket: `${P}_HEAP_TAGS` }),
    ]);
    return {
      nc,
      id,
      prefix: P,
      store: ownedBy(records, id),
      output,
      sessionLog,
      heapTags,
      close: async () => {
        if (!nc.isClosed()) await nc.drain();
      },
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

/**
 * The store with `runner` set on every record created through it: a record waiting in this
 * node's queue is already this node's, so only this node recovers it after a crash.
 */
export function ownedBy(store: ExecutionStore, node: string): ExecutionStore {
  return {
    create: (record: ExecutionRecord, signal?: AbortSignal) =>
      store.create({ ...record, runner: node }, signal),
    get: (...args) => store.get(...args),
    transition: (...args) => store.transition(...args),
    list: (...args) => store.list(...args),
    listUnfinished: (...args) => store.listUnfinished(...args),
    deleteCompletedBefore: (...args) => store.deleteCompletedBefore(...args),
  };
}

/** The node id kept in the data dir, so a restarted node recovers what it left unfinished. */
function keptNodeId(dataDir: string): string {
  const file = join(dataDir, 'node-id');
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{1,64}$/.test(kept)) return kept;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomUUID();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${id}\n`, { mode: 0o644 });
  return id;
}
