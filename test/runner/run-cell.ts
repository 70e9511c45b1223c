// Runs one live cell in a sandbox the way the runner does (transform, live recorder, metered
// output): the one helper the sandbox-level suites share.
import type { ExecutionOutcome, OutputLevel } from '../../src/core/index.ts';
import { executeCell } from '../../src/runner/execute-cell.ts';
import { LiveRecorder } from '../../src/runner/recorder.ts';
import type { HostCallHandler } from '../../src/runner/sandbox/cell-run.ts';
import type { Sandbox } from '../../src/runner/sandbox/sandbox.ts';

export interface RunCellOptions {
  timeoutMs?: number;
  hostCall?: HostCallHandler;
  onOutput?: (level: OutputLevel, text: string) => void;
}

export function runCell(
  sandbox: Sandbox,
  code: string,
  opts: RunCellOptions = {},
): Promise<ExecutionOutcome> {
  return executeCell(
    { code, language: 'javascript', timeoutMs: opts.timeoutMs ?? 5000 },
    {
      sandbox,
      recorder: new LiveRecorder(),
      signal: new AbortController().signal,
      maxOutputBytes: 1 << 20,
      onOutput: opts.onOutput ?? (() => {}),
      ...(opts.hostCall && { hostCall: opts.hostCall }),
    },
  );
}
