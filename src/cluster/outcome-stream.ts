/**
 * Durable outcomes: a runner pod publishes each outcome to JetStream (stream `MCPV8_OUTCOMES`,
 * subject `<prefix>.outcome.<namespace>.<execution id>`, one kept per subject) instead of only to
 * whoever listens right now. A controller that takes over the Lease while an execution runs
 * finds the outcome there if the runner finished during the hand-over, so nothing is lost and
 * nothing is run twice. Live pools receive the same message as a plain subscription.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { ExecutionOutcomeSchema } from '../core/index.ts';
import { ensureStream } from './jetstream-batch.ts';
import { assertSubjectPrefix, subjectToken } from './nats-tokens.ts';

export const OUTCOME_STREAM = 'MCPV8_OUTCOMES';
/** How long an outcome is kept for a controller to pick up. */
const OUTCOME_MAX_AGE_NS = 24 * 3600 * 1e9;

/** What a runner pod publishes when an execution ends. */
export const StoredOutcomeSchema = z.object({
  type: z.literal('outcome'),
  /** The run's execution id (the pool's key). */
  executionId: z.string().min(1).max(320),
  runnerId: z.string().min(1).max(253),
  outcome: ExecutionOutcomeSchema,
  /** The runner stored `outcome.heap` in the shared heap store itself. */
  heapCommitted: z.boolean().optional(),
});
export type StoredOutcome = z.infer<typeof StoredOutcomeSchema>;

/** Subject of one execution's outcome. */
export function outcomeSubject(prefix: string, namespace: string, executionId: string): string {
  return `${assertSubjectPrefix(prefix)}.outcome.${subjectToken(namespace, 'namespace')}.${subjectToken(executionId, 'execution id')}`;
}

/** The subject every outcome matches (one subscription for a whole pool). */
export function allOutcomes(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.outcome.>`;
}

/** Creates the stream when missing (runners and controllers both call it; idempotent). */
export async function ensureOutcomeStream(nc: NatsConnection, prefix: string): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  await ensureStream(jsm, {
    name: OUTCOME_STREAM,
    subjects: [allOutcomes(prefix)],
    max_msgs_per_subject: 1,
    max_age: OUTCOME_MAX_AGE_NS,
    allow_direct: true,
  });
  return jsm;
}

/** The stored outcome of an execution, if its runner published one; malformed ones are ignored. */
export async function readStoredOutcome(
  jsm: JetStreamManager,
  prefix: string,
  namespace: string,
  executionId: string,
): Promise<StoredOutcome | undefined> {
  const subject = outcomeSubject(prefix, namespace, executionId);
  // Direct get answers null when the subject has no message.
  const m = await jsm.direct.getMessage(OUTCOME_STREAM, { last_by_subj: subject });
  if (!m) return undefined;
  try {
    const parsed = StoredOutcomeSchema.safeParse(m.json());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
