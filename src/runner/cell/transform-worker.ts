/**
 * Entry of a transform worker thread (see TransformWorkerPool): runs cell transforms and
 * TypeScript stripping off the runner's main thread, under the worker's own heap and stack
 * limits. Node's TypeScript stripper is a WebAssembly build of swc that one failure (a trap on a
 * deeply nested type) leaves broken for every later call in the same thread, so any failure that
 * is not a plain syntax error is reported as `broken` and the pool replaces this worker.
 */
import { stripTypeScriptTypes } from 'node:module';
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import { CellSyntaxError, transformCell } from './transform-cell.ts';
import type { TransformJob, TransformJobError, TransformReply } from './transform-protocol.ts';

const port = parentPort;
if (!port) throw new Error('transform-worker must run in a worker thread');

port.on('message', (job: TransformJob) => {
  let reply: TransformReply;
  try {
    const value =
      job.op === 'cell'
        ? transformCell(job.source, job.language, { deferred: job.deferred })
        : stripTypeScriptTypes(job.source, { mode: 'transform' });
    reply = { id: job.id, ok: true, value, externalBytes: externalBytes() };
  } catch (err) {
    reply = { id: job.id, ok: false, error: describe(err), externalBytes: externalBytes() };
  }
  port.postMessage(reply);
});

function describe(err: unknown): TransformJobError {
  if (err instanceof CellSyntaxError) {
    return { kind: 'syntax', message: reasonOf(err), line: err.line, column: err.column };
  }
  // The stripper reports a TypeScript syntax error as such; anything else it throws is a failure.
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (code === 'ERR_INVALID_TYPESCRIPT_SYNTAX' || code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return { kind: 'syntax', message: (err as Error).message, line: 0, column: 0 };
  }
  return { kind: 'broken', message: err instanceof Error ? err.message : String(err) };
}

/** The reason without the `(line:column)` suffix CellSyntaxError's message carries. */
function reasonOf(err: CellSyntaxError): string {
  const suffix = ` (${err.line}:${err.column})`;
  return err.message.endsWith(suffix) ? err.message.slice(0, -suffix.length) : err.message;
}

/** Memory held outside this thread's V8 heap: mostly the stripper's WebAssembly memory. */
function externalBytes(): number {
  return getHeapStatistics().external_memory;
}
