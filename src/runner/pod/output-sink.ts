/**
 * Console output of cluster runs, written by the runner pod straight to the tenant's JetStream
 * output log (keyed by the Execution name) instead of through the pool: the output survives a
 * controller hand-over and costs the controller nothing. Lines are batched by {@link OutputBuffer}.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { OutputBuffer, type OutputLevel, type OutputLog } from '../../core/index.ts';
import { JetStreamOutputLog } from '../../cluster/jetstream-output-log.ts';

/** Opens the output log of a namespace (injectable for tests). */
export type OpenOutputLog = (namespace: string) => Promise<Pick<OutputLog, 'append'>>;

/** The default: `JetStreamOutputLog.open(nc, {namespace})`, as the gateway reads it. */
export function jetStreamOutputLogs(nc: NatsConnection): OpenOutputLog {
  return (namespace) => JetStreamOutputLog.open(nc, { namespace });
}

/** One output buffer per running cluster execution, one log per namespace. */
export class ClusterOutputSink {
  readonly #open: OpenOutputLog;
  readonly #logs = new Map<string, Promise<Pick<OutputLog, 'append'>>>();
  readonly #buffers = new Map<string, OutputBuffer>();

  constructor(open: OpenOutputLog) {
    this.#open = open;
  }

  /** Starts collecting the output of run `executionId` (Execution `namespace`/`name`). */
  begin(executionId: string, namespace: string, name: string): void {
    const log: Pick<OutputLog, 'append'> = {
      append: async (id, lines) => (await this.#log(namespace)).append(id, lines),
    };
    this.#buffers.set(executionId, new OutputBuffer(log, name));
  }

  /** Adds a console record of a run begun here; false when the run is not one. */
  push(executionId: string, level: OutputLevel, text: string): boolean {
    const buffer = this.#buffers.get(executionId);
    buffer?.push(level, text);
    return buffer !== undefined;
  }

  /** Writes what is left of the run's output and forgets it; resolves when stored (or lost). */
  async end(executionId: string): Promise<void> {
    const buffer = this.#buffers.get(executionId);
    this.#buffers.delete(executionId);
    await buffer?.flush();
  }

  #log(namespace: string): Promise<Pick<OutputLog, 'append'>> {
    let log = this.#logs.get(namespace);
    if (!log) {
      log = this.#open(namespace);
      // A failed open is retried by the next append rather than remembered.
      void log.catch(() => this.#logs.delete(namespace));
      // Namespaces are few; the bound only keeps a flood of them from growing the map.
      if (this.#logs.size >= 10_000) this.#logs.clear();
      this.#logs.set(namespace, log);
    }
    return log;
  }
}
