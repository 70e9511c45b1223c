/**
 * Retention: finished executions older than the retention period are deleted with their
 * output, so an embedded server's data dir does not grow without bound.
 */
import type { ExecutionStore, OutputLog } from '../core/index.ts';

/** Deletes executions completed more than `retentionHours` before `now`; returns how many. */
export async function sweepRetention(opts: {
  store: ExecutionStore;
  output: OutputLog;
  retentionHours: number;
  now?: Date;
}): Promise<number> {
  const now = opts.now ?? new Date();
  const before = new Date(now.getTime() - opts.retentionHours * 3_600_000).toISOString();
  const ids = await opts.store.deleteCompletedBefore(before);
  if (ids.length > 0) await opts.output.delete(ids);
  return ids.length;
}
