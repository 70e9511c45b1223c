/**
 * The runner's PolicyEngine: asks OPA (over HTTP) about every operation of a configured category.
 */
import {
  Mcpv8Error,
  ResolvedPoliciesSchema,
  type PolicyCategory,
  type PolicyEngine,
  type ResolvedPolicies,
} from '../../core/index.ts';
import { OpaPolicyEngine } from './opa-policy-engine.ts';

/**
 * The engine for `policies`, or undefined when no category is configured.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID when `policies` is malformed (it crosses IPC unchecked).
 */
export function createPolicyEngine(policies: ResolvedPolicies): PolicyEngine | undefined {
  const parsed = ResolvedPoliciesSchema.safeParse(policies);
  if (!parsed.success) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [`runner policies: ${parsed.error.message}`]);
  }
  const configured = (Object.keys(parsed.data) as PolicyCategory[]).filter(
    (c) => parsed.data[c] !== undefined,
  );
  if (configured.length === 0) return undefined;
  return new OpaPolicyEngine(parsed.data);
}
