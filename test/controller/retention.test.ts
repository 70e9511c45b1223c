// Retention removes finished executions past the period together with their output, and keeps
// newer ones and anything still running.
import { describe, expect, it } from 'vitest';
import { sweepRetention } from '../../src/controller/retention.ts';
import type { ExecutionRecord } from '../../src/core/index.ts';
import { MEMORY_DATABASE, openDatabase } from '../../src/local/sqlite-database.ts';
import { SqliteExecutionStore } from '../../src/local/sqlite-execution-store.ts';
import { SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';

function record(id: string, status: ExecutionRecord['status'], completedAt?: string): ExecutionRecord {
  return {
    id,
    status,
    code: '1',
    language: 'javascript',
    limits: { heapMemoryMaxMb: 8, timeoutSeconds: 30 },
    namespace: 'default',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...(completedAt && { completedAt }),
  };
}

describe('sweepRetention', () => {
  it('deletes finished executions older than the period, with their output', async () => {
    const db = openDatabase(MEMORY_DATABASE);
    const store = new SqliteExecutionStore(db);
    const output = new SqliteOutputLog(db);
    await store.create(record('old', 'queued'));
    await store.transition('default', 'old', ['queued'], {
      status: 'completed',
      completedAt: '2026-01-01T00:00:00.000Z',
    });
    await store.create(record('new', 'queued'));
    await store.transition('default', 'new', ['queued'], {
      status: 'failed',
      completedAt: '2026-01-02T23:00:00.000Z',
    });
    await store.create(record('running', 'running'));
    for (const id of ['old', 'new', 'running'])
      await output.append(id, [{ level: 'log', text: `line of ${id}` }]);

    const deleted = await sweepRetention({
      store,
      output,
      retentionHours: 24,
      now: new Date('2026-01-03T00:00:00.000Z'),
    });

    expect(deleted).toBe(1);
    expect(await store.get('default', 'old')).toBeUndefined();
    expect((await output.read('old', { mode: 'lines', offset: 0, limit: 10 })).totalLines).toBe(0);
    expect(await store.get('default', 'new')).toBeDefined();
    expect(await store.get('default', 'running')).toBeDefined();
    expect((await output.read('new', { mode: 'lines', offset: 0, limit: 10 })).text).toBe('line of new\n');
    db.close();
  });
});
