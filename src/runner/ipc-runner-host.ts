/**
 * The host of a local runner child process: its supervisor (local/child-runner-pool.ts) over the
 * IPC channel. Reports go up as RunnerMessages (protocol.ts) and the supervisor stores output and
 * heaps itself; down come runs, cancels and the answers to chain requests.
 */
import type { ExecutionOutcome, HeapId, HeapNode, OutputLine } from '../core/index.ts';
import type { ChainAnswer } from '../core/heap-commit.ts';
import { ParentMessageSchema, type RunMessage, type RunnerMessage } from './protocol.ts';
import type { RunnerHeartbeat, RunnerHost } from './runner-host.ts';
import type { RunnerProcess } from './runner-process.ts';

export class IpcRunnerHost implements RunnerHost {
  readonly #send: (msg: RunnerMessage) => void;
  /** Chain requests awaiting the parent's answer, by execution id (one run asks one at a time). */
  readonly #chains = new Map<string, (answer: ChainAnswer) => void>();

  /** `send` delivers a message to the parent (dropped when the channel is gone). */
  constructor(send: (msg: RunnerMessage) => void) {
    this.#send = send;
  }

  /** Hands one message from the parent to `runner`; invalid messages are ignored (and reported). */
  receive(raw: unknown, runner: Pick<RunnerProcess, 'run' | 'cancel' | 'stop'>): void {
    const parsed = ParentMessageSchema.safeParse(raw);
    if (!parsed.success) {
      process.stderr.write(`runner: ignored an invalid message: ${parsed.error.message}\n`);
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'run':
        void runner.run(msg);
        break;
      case 'cancel':
        runner.cancel(msg.executionId);
        break;
      case 'shutdown':
        runner.stop();
        break;
      case 'chain': {
        const answer: ChainAnswer = msg.chain
          ? { chain: msg.chain }
          : { error: msg.error ?? { code: 'MCPV8_ERR_HEAP_NOT_FOUND', message: 'no chain' } };
        this.#chains.get(msg.executionId)?.(answer);
        break;
      }
    }
  }

  ready(pid: number): void {
    this.#send({ type: 'ready', pid });
  }

  heartbeat(beat: RunnerHeartbeat): void {
    this.#send({ type: 'heartbeat', ...beat });
  }

  /** The supervisor kills on the process's resident size: the runner measures the same. */
  residentBytes(): number {
    return process.memoryUsage.rss();
  }

  /** One `output` message per run of lines of the same level. */
  async output(run: RunMessage, lines: readonly OutputLine[]): Promise<void> {
    let from = 0;
    for (let i = 1; i <= lines.length; i++) {
      if (i < lines.length && lines[i]!.level === lines[from]!.level) continue;
      const text = lines
        .slice(from, i)
        .map((l) => l.text)
        .join('\n');
      this.#send({ type: 'output', executionId: run.executionId, level: lines[from]!.level, text });
      from = i;
    }
  }

  chain(run: RunMessage, heap: HeapId): Promise<ChainAnswer> {
    return new Promise((resolve) => {
      this.#chains.set(run.executionId, (answer) => {
        this.#chains.delete(run.executionId);
        resolve(answer);
      });
      this.#send({ type: 'chain-request', executionId: run.executionId, heap });
    });
  }

  outcome(run: RunMessage, outcome: ExecutionOutcome, heapNode?: HeapNode): void {
    // A chain the parent never answered (the run was cancelled while it waited) is moot now.
    this.#chains.delete(run.executionId);
    this.#send({ type: 'outcome', executionId: run.executionId, outcome, ...(heapNode && { heapNode }) });
  }
}
