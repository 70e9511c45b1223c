/**
 * Publishes the outcomes of cluster runs durably (stream MCPV8_OUTCOMES, see
 * cluster/outcome-stream.ts): retried with backoff until JetStream acknowledges it, so a
 * controller that was away finds it; a live pool receives the same message on its subscription.
 * When no ack comes within the budget the outcome is still sent once as a plain message on the
 * runner's `.out` subject: whoever listens now gets it, rather than nobody.
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureOutcomeStream, outcomeSubject, type StoredOutcome } from '../../cluster/outcome-stream.ts';

export interface OutcomePublisherOptions {
  prefix: string;
  /** The runner's `.out` subject: the fallback. */
  fallbackSubject: string;
  /** Total time spent retrying before falling back (default 30 s). */
  budgetMs?: number;
  /** First retry delay, doubled each time up to 2 s (default 100 ms). */
  firstDelayMs?: number;
  /** Told why an attempt failed (never holds a secret: NATS errors only). */
  warn?: (message: string) => void;
}

export class OutcomePublisher {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #opts: Required<OutcomePublisherOptions>;
  #stream: Promise<unknown> | undefined;

  constructor(nc: NatsConnection, opts: OutcomePublisherOptions) {
    this.#nc = nc;
    this.#js = jetstream(nc, { timeout: 5000 });
    this.#opts = { budgetMs: 30_000, firstDelayMs: 100, warn: () => undefined, ...opts };
  }

  /** Creates the outcome stream when missing; a failure is retried by the next publish. */
  async ensureStream(): Promise<void> {
    this.#stream ??= ensureOutcomeStream(this.#nc, this.#opts.prefix).catch((err: unknown) => {
      this.#stream = undefined;
      throw err;
    });
    await this.#stream;
  }

  /**
   * Publishes the outcome of run `msg.executionId` of `namespace`; resolves once acknowledged, or
   * once sent on the fallback subject. Never rejects.
   * @returns whether JetStream acknowledged it.
   */
  async publish(namespace: string, msg: StoredOutcome): Promise<boolean> {
    const payload = JSON.stringify(msg);
    const subject = outcomeSubject(this.#opts.prefix, namespace, msg.executionId);
    const deadline = Date.now() + this.#opts.budgetMs;
    let delay = this.#opts.firstDelayMs;
    for (let attempt = 1; !this.#nc.isClosed(); attempt++) {
      try {
        await this.ensureStream();
        await this.#js.publish(subject, payload);
        return true;
      } catch (err) {
        this.#opts.warn(`outcome of ${msg.executionId} not stored (attempt ${attempt}): ${errorText(err)}`);
      }
      if (Date.now() + delay > deadline) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
    try {
      if (!this.#nc.isClosed()) this.#nc.publish(this.#opts.fallbackSubject, payload);
    } catch (err) {
      this.#opts.warn(`outcome of ${msg.executionId} could not be sent: ${errorText(err)}`);
    }
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
