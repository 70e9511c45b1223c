/**
 * Brings the policy configuration to life for the embedded server: starts the managed OPA when
 * any source is local `.rego`, and resolves every source to an OPA URL + decision path — the
 * form runners receive (they only ever speak HTTP to OPA).
 */
import type { Logger } from 'pino';
import type { ResolvedPolicies } from '../core/index.ts';
import { ManagedOpa } from '../local/managed-opa.ts';
import { localRegoFiles, type PolicyConfig } from './policy-config.ts';

/** The policies the runners get, and what keeps them served. */
export interface PolicyRuntime {
  readonly resolved: ResolvedPolicies;
  /** The managed OPA, when local policies are configured. */
  readonly opa?: ManagedOpa;
  close(): Promise<void>;
}

/**
 * Starts what `config` needs.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID (no opa binary, a policy OPA refuses), from {@link ManagedOpa.start}.
 */
export async function startPolicies(config: PolicyConfig, log?: Logger): Promise<PolicyRuntime> {
  const files = localRegoFiles(config);
  const opa =
    files.length > 0
      ? await ManagedOpa.start({ binary: config.opaBinary, files, ...(log && { log }) })
      : undefined;
  if (opa) log?.info({ url: opa.url, files: files.length }, 'serving local policies with a managed OPA');
  return {
    resolved: resolvePolicies(config, opa?.url),
    ...(opa && { opa }),
    close: async () => await opa?.stop(),
  };
}

/** Every source as URL + path; local sources point at `localOpaUrl` (required when there are any). */
export function resolvePolicies(config: PolicyConfig, localOpaUrl: string | undefined): ResolvedPolicies {
  const resolved: ResolvedPolicies = {};
  for (const [name, category] of Object.entries(config.categories)) {
    resolved[name as keyof ResolvedPolicies] = {
      mode: category.mode,
      timeoutMs: category.timeoutMs,
      sources: category.sources.map((s) => {
        if (s.kind === 'remote') return { url: s.url, path: s.path };
        if (localOpaUrl === undefined) throw new Error('local .rego sources need the managed OPA');
        return { url: localOpaUrl, path: s.path };
      }),
    };
  }
  return resolved;
}
