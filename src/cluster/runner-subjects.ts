/**
 * The NATS subjects between runner pods and the pool that drives them:
 *   <prefix>.runner.<runner>.in     runs (each naming its Execution) and cancels, JSON
 *   <prefix>.runner.<runner>.out    ready, heartbeats, and an outcome JetStream would not store
 *   <prefix>.runners.heartbeat      announcements: a runner is alive, whether it drains, its claim
 *   <prefix>.outcome.<ns>.<id>      outcomes, stored durably (outcome-stream.ts)
 * Output and heaps never cross these: the pod writes them to the tenant's output log and heap
 * store itself. `<runner>` is the runner id (the pod name) escaped by {@link subjectToken}, so no
 * id can add a token or a wildcard. Which runner may publish where is for NATS permissions to
 * enforce.
 */
import { z } from 'zod';
import {
  CancelMessageSchema,
  ExecutionRefSchema,
  HeartbeatMessageSchema,
  ReadyMessageSchema,
  RunMessageSchema,
} from '../runner/protocol.ts';
import type { RunRequest } from '../core/index.ts';
import { Mcpv8Error } from '../core/errors.ts';
import { assertSubjectPrefix, subjectToken } from './nats-tokens.ts';
import { StoredOutcomeSchema } from './outcome-stream.ts';

/** Default first subject token. */
export const DEFAULT_RUNNER_SUBJECT_PREFIX = 'mcpv8';

/** The subjects of one runner. */
export interface RunnerSubjects {
  in: string;
  out: string;
}

/** The subjects of runner `runnerId` under `prefix`. */
export function runnerSubjects(prefix: string, runnerId: string): RunnerSubjects {
  const base = `${assertSubjectPrefix(prefix)}.runner.${subjectToken(runnerId, 'runner id')}`;
  return { in: `${base}.in`, out: `${base}.out` };
}

/** The subject every runner's `.out` matches (one subscription for a whole pool). */
export function allRunnersOut(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.runner.*.out`;
}

/** Where runners announce themselves. */
export function heartbeatSubject(prefix: string): string {
  return `${assertSubjectPrefix(prefix)}.runners.heartbeat`;
}

/** The runner token of a `.out` subject (undefined when it is not one). */
export function runnerTokenOf(prefix: string, subject: string): string | undefined {
  const head = `${prefix}.runner.`;
  if (!subject.startsWith(head) || !subject.endsWith('.out')) return undefined;
  const token = subject.slice(head.length, -'.out'.length);
  return token.length > 0 && !token.includes('.') ? token : undefined;
}

/** A runner announcing it is alive: sent with its `ready` and every heartbeat. */
export const RunnerAnnouncementSchema = z.object({
  runnerId: z.string().min(1).max(253),
  pid: z.number().int(),
  /** Runs it has in hand: received, and their outcome not yet out. */
  running: z.number().int().nonnegative(),
  /** Shutting down: finishes what it runs, accepts nothing new. */
  draining: z.boolean(),
  /**
   * The execution ids it runs now (bounded by its concurrency), so a pool that takes over can
   * tell an adopted execution the runner still runs from one it never received.
   */
  executions: z.array(z.string().min(1).max(320)).max(64).optional(),
  /**
   * The pod's claim (pod-runs.ts), so a pool that takes over never sends it a run it would refuse:
   * the runs it admitted over its life, and the tenant (namespace) it is bound to. Absent: an
   * older runner, which claims nothing.
   */
  admitted: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  tenant: z.string().min(1).max(63).optional(),
});
export type RunnerAnnouncement = z.infer<typeof RunnerAnnouncementSchema>;

/** A run sent to a runner pod: always a cluster run, naming the Execution it is. */
export const PodRunMessageSchema = RunMessageSchema.extend({ execution: ExecutionRefSchema });
export type PodRunMessage = z.infer<typeof PodRunMessageSchema>;

/** Why a run that names no Execution is not sent. */
export const UNNAMED_RUN = new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
  'a run sent to a runner pod must name its Execution',
]);

/** The run message of `req`; undefined when it names no Execution (no pod takes that). */
export function podRunMessage(req: RunRequest): PodRunMessage | undefined {
  const { execution } = req;
  return execution && { type: 'run', ...req, persist: req.persist ?? false, execution };
}

/** What a pool sends on a runner's `.in`. */
export const RunnerInMessageSchema = z.discriminatedUnion('type', [PodRunMessageSchema, CancelMessageSchema]);

/**
 * A run the runner refused and did not run: it ran all the runs it may (`used-up`), or it is bound
 * to another tenant (`tenant`, the one it runs for). Not a failure: the pool sends the run elsewhere.
 */
export const RefusedMessageSchema = z.object({
  type: z.literal('refused'),
  executionId: z.string().min(1).max(320),
  reason: z.enum(['used-up', 'other-tenant']),
  tenant: z.string().min(1).max(253).optional(),
});
export type RefusedMessage = z.infer<typeof RefusedMessageSchema>;
/** Why a run was refused (a {@link RefusedMessage} without its envelope). */
export type RunRefusal = Omit<RefusedMessage, 'type' | 'executionId'>;

/** What a runner pod publishes on its `.out`. */
export const RunnerOutMessageSchema = z.discriminatedUnion('type', [
  ReadyMessageSchema,
  HeartbeatMessageSchema,
  /** Only when JetStream would not store it within the publisher's budget (outcome-publisher.ts). */
  StoredOutcomeSchema,
  RefusedMessageSchema,
]);
export type RunnerOutMessage = z.infer<typeof RunnerOutMessageSchema>;

/** A message's JSON payload; undefined when it is not JSON. */
export function decodeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
