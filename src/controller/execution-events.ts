/**
 * In-process notifications about running executions (console lines as they are produced, and
 * the end), for live consumers such as MCP logging notifications. Listeners of an execution are
 * dropped when it ends, so nothing accumulates.
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
    // One listener per watching MCP session per execution; the default warning at 10 is noise.
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

  line(executionId: string, level: OutputLevel, text: string): void {
    this.#emitter.emit(`line:${executionId}`, level, text);
  }

  end(executionId: string, status: ExecutionStatus): void {
    this.#emitter.emit(`end:${executionId}`, status);
  }
}
