/**
 * Cancelling an execution that another embedded node runs: every node answers requests on
 * `<prefix>.node.<node>.cancel` (node id as a {@link subjectToken}); the node that runs the
 * execution aborts it and answers once it has settled, so the caller then reads the final record.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { assertSubjectPrefix, subjectToken } from './nats-tokens.ts';

const CancelRequestSchema = z.object({ namespace: z.string().min(1), id: z.string().min(1) });
const CancelReplySchema = z.object({ settled: z.boolean() });

/**
 * What a remote cancel came to: `settled` — the owner ended it (the record is final);
 * `not-running` — the owner answered but does not run it; `unreachable` — no node answered.
 */
export type RemoteCancelResult = 'settled' | 'not-running' | 'unreachable';

export interface NodeCancelBusOptions {
  nc: NatsConnection;
  /** First subject token(s), e.g. `MCPV8`. */
  prefix: string;
  /** This node's id. */
  node: string;
  /**
   * Cancels an execution this node queues or runs and resolves once it has settled; false when
   * it does not run it here.
   */
  cancelLocal(namespace: string, id: string): Promise<boolean>;
  /** How long a caller waits for the owner's answer (default 30 s: the owner waits for the run to end). */
  timeoutMs?: number;
  onError?(err: unknown): void;
}

/** One node's end of the cancel requests; {@link NodeCancelBus.close} stops answering. */
export class NodeCancelBus {
  readonly #opts: NodeCancelBusOptions;
  readonly #sub: Subscription;

  constructor(opts: NodeCancelBusOptions) {
    this.#opts = opts;
    this.#sub = opts.nc.subscribe(cancelSubject(opts.prefix, opts.node), {
      callback: (err, msg) => {
        if (err) {
          opts.onError?.(err);
          return;
        }
        const parsed = CancelRequestSchema.safeParse(safeJson(msg.data));
        if (!parsed.success) {
          msg.respond(JSON.stringify({ settled: false }));
          return;
        }
        opts
          .cancelLocal(parsed.data.namespace, parsed.data.id)
          .then((settled) => msg.respond(JSON.stringify({ settled })))
          .catch((e: unknown) => {
            opts.onError?.(e);
            msg.respond(JSON.stringify({ settled: false }));
          });
      },
    });
  }

  /** Asks `owner` to cancel an execution it runs. */
  async request(owner: string, namespace: string, id: string): Promise<RemoteCancelResult> {
    try {
      const reply = await this.#opts.nc.request(
        cancelSubject(this.#opts.prefix, owner),
        JSON.stringify({ namespace, id }),
        { timeout: this.#opts.timeoutMs ?? 30_000 },
      );
      const parsed = CancelReplySchema.safeParse(safeJson(reply.data));
      return parsed.success && parsed.data.settled ? 'settled' : 'not-running';
    } catch {
      // No responders (the owner is gone) or no answer in time.
      return 'unreachable';
    }
  }

  /** Stops answering (requests then find no responder). */
  async close(): Promise<void> {
    if (!this.#sub.isClosed()) await this.#sub.drain();
  }
}

/** The subject a node answers cancel requests on. */
export function cancelSubject(prefix: string, node: string): string {
  return `${assertSubjectPrefix(prefix)}.node.${subjectToken(node, 'node id')}.cancel`;
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return undefined;
  }
}
