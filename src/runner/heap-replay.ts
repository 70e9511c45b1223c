/**
 * Resuming a heap that is not live: replay its chain (root first) in a fresh sandbox, each cell
 * with its journal answering the clock, randomness and host calls and delivering results and
 * timers in the recorded order — console muted, no waiting on timers. Imports are performed
 * again (they change the isolate) and must load byte-identical modules.
 */
import { Mcpv8Error, type HeapId, type HeapNode } from '../core/index.ts';
import { executeCell, type ExecuteCellOptions } from './execute-cell.ts';
import { ReplayRecorder } from './recorder.ts';
import type { Sandbox } from './sandbox/sandbox.ts';

/** Host calls a replay performs again instead of answering from the journal. */
const RELIVED_OPS: ReadonlySet<string> = new Set(['import']);

/** How a replay ended when it did not rebuild the heap. */
export type ReplayFailure =
  { kind: 'timed_out' } | { kind: 'cancelled' } | { kind: 'failed'; error: Mcpv8Error };

export interface ReplayOptions extends Pick<ExecuteCellOptions, 'modules' | 'hostCall'> {
  signal: AbortSignal;
  /** Epoch ms by which the whole replay must be done (the execution's own deadline). */
  deadline: number;
}

/**
 * Replays `chain` (root first; `chain[i].node.parent` is `chain[i-1].id`) into `sandbox`.
 * Resolves undefined when the sandbox now holds the last heap's state.
 */
export async function replayChain(
  sandbox: Sandbox,
  chain: ReadonlyArray<{ id: HeapId; node: HeapNode }>,
  opts: ReplayOptions,
): Promise<ReplayFailure | undefined> {
  const target = chain.at(-1)?.id ?? '';
  const fail = (message: string): ReplayFailure => ({
    kind: 'failed',
    error: new Mcpv8Error('MCPV8_ERR_HEAP_REPLAY_FAILED', [target, message]),
  });
  for (const [i, { id, node }] of chain.entries()) {
    const startedAt = Date.now();
    if (startedAt >= opts.deadline) return { kind: 'timed_out' };
    const recorder = new ReplayRecorder(node.journal, { relive: RELIVED_OPS });
    sandbox.expectModules(new Map(node.modules.map((m) => [m.url, m.sha256])));
    const outcome = await executeCell(
      { code: node.cell.code, language: node.cell.language, timeoutMs: opts.deadline - startedAt },
      {
        sandbox,
        recorder,
        signal: opts.signal,
        startedAt,
        maxOutputBytes: Number.MAX_SAFE_INTEGER,
        onOutput: () => {},
        modules: opts.modules,
        hostCall: opts.hostCall,
      },
    );
    sandbox.expectModules(undefined);
    const where = `cell ${i + 1} of ${chain.length} (heap ${id})`;
    if (outcome.status === 'cancelled') return { kind: 'cancelled' };
    if (outcome.status === 'timed_out') {
      // Waiting on a delivery the journal holds back means the cell no longer does what it did.
      const stalled = recorder.stalledAt;
      return stalled ? fail(`${where} stopped following its journal at ${stalled}`) : { kind: 'timed_out' };
    }
    if (recorder.diverged) return fail(`${where} diverged from its journal: ${recorder.diverged.message}`);
    if (outcome.status !== 'completed') {
      return fail(`${where} failed on replay: ${outcome.error?.name}: ${outcome.error?.message}`);
    }
    if (!recorder.complete) return fail(`${where} observed less than its journal recorded`);
    const changed = moduleDifference(node.modules, sandbox.drainLoadedModules());
    if (changed) return fail(`${where} imported ${changed}, which changed since the heap was recorded`);
  }
  return undefined;
}

/** Modules sorted by URL: the order concurrent downloads finish in is not part of a heap. */
export function sortModules<T extends { url: string }>(modules: readonly T[]): T[] {
  return [...modules].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
}

function moduleDifference(
  recorded: ReadonlyArray<{ url: string; sha256: string }>,
  loaded: ReadonlyArray<{ url: string; sha256: string }>,
): string | undefined {
  const now = new Map(loaded.map((m) => [m.url, m.sha256]));
  for (const m of recorded) if (now.get(m.url) !== m.sha256) return m.url;
  const before = new Set(recorded.map((m) => m.url));
  return loaded.find((m) => !before.has(m.url))?.url;
}
