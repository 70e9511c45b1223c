/**
 * In-process notifications about running executions (console lines as they are produced, and
 * the end), for live consumers such as MCP logging notifications and waits for an execution to
 * end. Listeners of an execution are dropped when it ends, so nothing accumulates.
 */
import { EventEmitter } from 'node:events';
import type { ExecutionStatus, OutputLevel } from '../core/index.ts';

export interface ExecutionOutputListener {
  line(level: OutputLevel, text: string): void;
  end(status: ExecutionStatus): void;
}

export class ExecutionEvents {
  readonly #emitter = new EventEmitter();

  constructor() {
    // One listener per watching MCP session or wait per execution; the default warning at 10 is
    // noise, and every listener is removed when its execution ends or its wait returns.
    this.#emitter.setMaxListeners(0);
  }

  /** Follows one execution until it ends; returns an unsubscribe function. */
  watch(executionId: string, listener: ExecutionOutputListener): () => void {
    const line = (level: OutputLevel, text: string) => listener.line(level, text);
    const end = (status: ExecutionStatus) => {
      unsubscribe();
      listener.end(status);
    };
    const unsubscribe = () => {
      this.#emitter.off(`line:${executionId}`, line);
      this.#emitter.off(`end:${executionId}`, end);
    };
    this.#emitter.on(`line:${executionId}`, line);
    this.#emitter.on(`end:${executionId}`, end);
    return unsubscribe;
  }

  /**
   * Calls `listener` once when the execution ends in this process; returns an unsubscribe
   * function (a no-op once it has fired). Cheaper than {@link watch} for a caller that needs only
   * the end (one listener, no per-line calls), which matters with thousands of waits at once.
   */
  onEnd(executionId: string, listener: (status: ExecutionStatus) => void): () => void {
    const event = `end:${executionId}`;
    this.#emitter.once(event, listener);
    return () => this.#emitter.off(event, listener);
  }

  /** Listeners registered now, over every execution (to check that none are left behind). */
  get listenerCount(): number {
    let count = 0;
    for (const event of this.#emitter.eventNames()) count += this.#emitter.listenerCount(event);
    return count;
  }

  line(executionId: string, level: OutputLevel, text: string): void {
    this.#emitter.emit(`line:${executionId}`, level, text);
  }

  end(executionId: string, status: ExecutionStatus): void {
    this.#emitter.emit(`end:${executionId}`, status);
  }
}
