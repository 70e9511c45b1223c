// One real runner process with heaps in a temp dir, for suites where every cell must share the
// process the hostile ones ran in. Open it in beforeAll, close it in afterAll.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionOutcome, OutputLevel, RunRequest } from '../../src/core/index.ts';
import { ChildRunnerPool, type ChildRunnerPoolOptions } from '../../src/local/child-runner-pool.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';

export interface OneRunner {
  pool: ChildRunnerPool;
  /** Runs a cell (defaults below, then `opts`); `onOutput` gets each batch of lines. */
  run(
    code: string,
    opts?: Partial<RunRequest>,
    onOutput?: (level: OutputLevel, text: string) => void,
  ): Promise<ExecutionOutcome>;
  close(): Promise<void>;
}

export async function openOneRunner(
  defaults: Partial<RunRequest> = {},
  poolOptions: Partial<ChildRunnerPoolOptions> = {},
): Promise<OneRunner> {
  const dir = mkdtempSync(join(tmpdir(), 'one-runner-'));
  const pool = new ChildRunnerPool({ runners: 1, heaps: new DirHeapStore(dir), ...poolOptions });
  await pool.whenReady();
  let seq = 0;
  return {
    pool,
    run: (code, opts = {}, onOutput = () => {}) =>
      pool.run(
        {
          executionId: `r${++seq}`,
          code,
          language: 'javascript',
          heapMb: 16,
          timeoutMs: 20_000,
          ...defaults,
          ...opts,
        },
        onOutput,
        new AbortController().signal,
      ),
    close: async () => {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
