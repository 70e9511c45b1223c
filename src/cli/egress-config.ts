/**
 * The egress broker part of the cluster gateway's configuration: `--egress-port` turns it on; its
 * fetch/modules policies and header rules take the embedded server's flags and formats
 * (`--policies-json`, `--opa-url`, `--fetch-header`, `--fetch-header-config`); the token key comes
 * only from MCP_V8_EGRESS_KEY (a secret: never a flag, never echoed).
 */
import { EGRESS_KEY_ENV, EgressTokenKey } from '../cluster/egress-token.ts';
import { isMcpv8Error } from '../core/index.ts';
import type { HeaderRule } from '../runner/host/header-rules.ts';
import { FETCH_FLAGS, readFetchConfig } from './fetch-config.ts';
import { POLICY_FLAGS, readPolicies, type PolicyConfig } from './policy-config.ts';

/** Egress flags → [type, help]; spread into the gateway's flag table. */
export const EGRESS_FLAGS = {
  'egress-port': [
    'string',
    `Serve the egress broker of runner pods on this port (needs ${EGRESS_KEY_ENV}; default: off)`,
  ],
  ...POLICY_FLAGS,
  ...FETCH_FLAGS,
} as const;

export type EgressFlag = keyof typeof EGRESS_FLAGS;

export interface EgressConfig {
  port: number;
  key: EgressTokenKey;
  policies: PolicyConfig;
  headerRules: readonly HeaderRule[];
}

/**
 * The broker's configuration, or undefined without `--egress-port`; problems are appended.
 * @param str a flag's value (or its MCP_V8_* variable)
 * @param argv the command-line values of a repeatable flag (its variable is read here)
 */
export function readEgressConfig(
  port: number | undefined,
  str: (flag: Exclude<EgressFlag, 'egress-port'>) => string | undefined,
  argv: (flag: 'fetch-header') => readonly string[] | undefined,
  env: NodeJS.ProcessEnv,
  problems: string[],
): EgressConfig | undefined {
  const policies = readPolicies({ str }, problems);
  const fetch = readFetchConfig({ str, argv }, env, policies.categories.fetch !== undefined, problems);
  const configured = Object.keys(policies.categories).length > 0 || fetch.headerRules.length > 0;
  if (port === undefined) {
    if (configured) problems.push('fetch policies and header rules of the gateway need --egress-port');
    return undefined;
  }
  let key: EgressTokenKey | undefined;
  try {
    key = EgressTokenKey.fromEnv(env);
    if (key === undefined) problems.push(`--egress-port needs ${EGRESS_KEY_ENV}`);
  } catch (err) {
    problems.push(isMcpv8Error(err) ? err.message : `${EGRESS_KEY_ENV} is invalid`);
  }
  return key && { port, key, policies, headerRules: fetch.headerRules };
}
