/**
 * The host capabilities a runner offers, built from its options: each one only when its policy
 * category is configured (fetch needs the fetch policy, fs the filesystem policy).
 */
import type { PolicyEngine } from '../../core/index.ts';
import type { RunnerOptions } from '../runner-process.ts';
import type { CapabilityHandler, HostCapability } from './host-capability.ts';
import { createFsCapability } from './fs-capability.ts';
import { createFetchCapability } from './fetch-capability.ts';
import type { RunnerEgress } from './egress.ts';

export function buildCapabilities(
  opts: RunnerOptions,
  policy: PolicyEngine | undefined,
  egress?: RunnerEgress,
): HostCapability[] {
  const capabilities: HostCapability[] = [];
  if (policy?.has('filesystem')) capabilities.push(createFsCapability(opts.filesystem, policy));
  if (policy?.has('fetch')) capabilities.push(createFetchCapability(opts.fetch, policy, undefined, egress));
  return capabilities;
}

/** One handler for an execution that routes each op to the capability answering it. */
export function executionHostCalls(
  capabilities: readonly HostCapability[],
  ctx: { executionId: string; deadline: number },
): ((op: string, payload: string, signal: AbortSignal) => Promise<unknown>) | undefined {
  if (capabilities.length === 0) return undefined;
  const byOp = new Map<string, CapabilityHandler>();
  for (const c of capabilities) {
    const handler = c.forExecution(ctx);
    for (const op of c.ops) byOp.set(op, handler);
  }
  return (op, payload, signal) => {
    const handler = byOp.get(op);
    if (!handler) return Promise.reject(new Error(`${op} is not available in this sandbox`));
    return handler(op, payload, signal);
  };
}
