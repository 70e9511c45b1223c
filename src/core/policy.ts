/**
 * Policies: untrusted code reaches the network, the file system and module downloads only where
 * a policy says yes. A PolicyEngine answers one question per operation — may this happen? —
 * from OPA (a remote server, or a managed `opa` process evaluating local `.rego` files).
 * `--policies-json` configures the sources of each category; `--opa-url` + `--opa-fetch-policy`
 * is the seed's shorthand for the fetch category.
 */
import { z } from 'zod';

export const PolicyCategorySchema = z.enum(['fetch', 'filesystem', 'modules']);
export type PolicyCategory = z.infer<typeof PolicyCategorySchema>;

/** What a policy is asked: `input` of the OPA query (shape per category, see the docs). */
export type PolicyInput = Readonly<Record<string, unknown>>;

/** A policy source as the runner sees it: an OPA server URL and the path of the decision. */
export const OpaSourceSchema = z.object({
  /** Base URL of the OPA server, e.g. http://127.0.0.1:8181 */
  url: z.string().url(),
  /** Decision path, e.g. `mcp/fetch` (queried as POST <url>/v1/data/<path>). */
  path: z.string().regex(/^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*$/, 'must look like mcp/fetch'),
});
export type OpaSource = z.infer<typeof OpaSourceSchema>;

/** How several sources of one category combine: every one must allow, or any one. */
export const PolicyModeSchema = z.enum(['all', 'any']);

/** One category as the runner receives it (local rego files already served by a managed OPA). */
export const ResolvedCategorySchema = z.object({
  mode: PolicyModeSchema.default('all'),
  sources: z.array(OpaSourceSchema).min(1),
  /** How long one decision may take before the operation is refused as unavailable. */
  timeoutMs: z.number().int().min(1).max(60_000).default(2000),
});
export type ResolvedCategory = z.infer<typeof ResolvedCategorySchema>;

/** Per category; a category that is absent is not available to user code at all. */
export const ResolvedPoliciesSchema = z.object({
  fetch: ResolvedCategorySchema.optional(),
  filesystem: ResolvedCategorySchema.optional(),
  modules: ResolvedCategorySchema.optional(),
});
export type ResolvedPolicies = z.infer<typeof ResolvedPoliciesSchema>;

export interface PolicyEngine {
  /** True when `category` is configured (its capability is offered to user code). */
  has(category: PolicyCategory): boolean;
  /**
   * Resolves when the policy allows the operation.
   * @throws Mcpv8Error MCPV8_ERR_POLICY_DENIED (the policy said no), MCPV8_ERR_POLICY_UNAVAILABLE
   *   (OPA unreachable, too slow, or answered with an error), MCPV8_ERR_POLICY_UNCONFIGURED.
   */
  authorize(category: PolicyCategory, input: PolicyInput, signal?: AbortSignal): Promise<void>;
}

/**
 * The policy input of a request to `url` — fetch (every hop) and module downloads share it:
 * `{operation, url, method, headers, url_parsed: {scheme, host, port, path, query}}`.
 */
export function urlPolicyInput(
  operation: string,
  url: URL,
  method: string,
  headers: Readonly<Record<string, string>>,
): PolicyInput {
  return {
    operation,
    url: url.href,
    method,
    headers,
    url_parsed: {
      scheme: url.protocol.replace(/:$/, ''),
      host: url.hostname,
      port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
    },
  };
}
