/**
 * Console output of cluster runs, written by the runner pod straight to the tenant's JetStream
 * output log (keyed by the Execution name) instead of through the pool: the output survives a
 * controller hand-over and costs the controller nothing. The runner batches the lines.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { OutputLine, OutputLog } from '../../core/index.ts';
import { JetStreamOutputLog } from '../../cluster/jetstream-output-log.ts';

/** Opens the output log of a namespace (injectable for tests). */
export type OpenOutputLog = (namespace: string) => Promise<Pick<OutputLog, 'append'>>;

/** The default: `JetStreamOutputLog.open(nc, {namespace})`, as the gateway reads it. */
export function jetStreamOutputLogs(nc: NatsConnection): OpenOutputLog {
  return (namespace) => JetStreamOutputLog.open(nc, { namespace });
}

/** Namespaces with an open log kept; they are few, the bound only stops a flood of them. */
const MAX_LOGS = 10_000;

/** The output logs of the namespaces this pod runs executions of, opened on first use. */
export class TenantOutputLogs {
  readonly #open: OpenOutputLog;
  readonly #logs = new Map<string, Promise<Pick<OutputLog, 'append'>>>();

  constructor(open: OpenOutputLog) {
    this.#open = open;
  }

  /** Appends `lines` to the output of Execution `namespace`/`name`; rejects when not stored. */
  async append(execution: { namespace: string; name: string }, lines: readonly OutputLine[]): Promise<void> {
    const log = await this.#log(execution.namespace);
    await log.append(execution.name, lines);
  }

  #log(namespace: string): Promise<Pick<OutputLog, 'append'>> {
    let log = this.#logs.get(namespace);
    if (!log) {
      log = this.#open(namespace);
      // A failed open is retried by the next append rather than remembered.
      void log.catch(() => this.#logs.delete(namespace));
      if (this.#logs.size >= MAX_LOGS) this.#logs.clear();
      this.#logs.set(namespace, log);
    }
    return log;
  }
}
