/**
 * The runner's PolicyEngine: asks OPA (over HTTP) about every operation of a configured category.
 * Placeholder until the OPA client lands: configured categories are refused as unavailable.
 */
import {
  Mcpv8Error,
  type PolicyCategory,
  type PolicyEngine,
  type ResolvedPolicies,
} from '../../core/index.ts';

/** The engine for `policies`, or undefined when no category is configured. */
export function createPolicyEngine(policies: ResolvedPolicies): PolicyEngine | undefined {
  const configured = (Object.keys(policies) as PolicyCategory[]).filter((c) => policies[c] !== undefined);
  if (configured.length === 0) return undefined;
  return {
    has: (category) => policies[category] !== undefined,
    authorize: async (category) => {
      throw new Mcpv8Error('MCPV8_ERR_POLICY_UNAVAILABLE', [category, 'not implemented yet']);
    },
  };
}
