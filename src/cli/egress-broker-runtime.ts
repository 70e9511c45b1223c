/**
 * Starts the egress broker of the cluster gateway from its configuration: its policies (a managed
 * OPA when any source is local `.rego`, as in embedded mode), then the broker on its own port.
 */
import type { Logger } from 'pino';
import { EgressBroker } from '../gateway/egress/egress-broker.ts';
import { createPolicyEngine } from '../runner/policy/policy-engine.ts';
import type { EgressConfig } from './egress-config.ts';
import { startPolicies } from './policy-runtime.ts';

export interface RunningEgressBroker {
  url: string;
  close(): Promise<void>;
}

/** Starts the broker; resolves once it listens on `host`:`config.port`. */
export async function startEgressBroker(
  config: EgressConfig,
  host: string,
  log: Logger,
): Promise<RunningEgressBroker> {
  const policies = await startPolicies(config.policies, log);
  const broker = new EgressBroker({
    key: config.key,
    policy: createPolicyEngine(policies.resolved),
    headerRules: config.headerRules,
    log,
  });
  let url: string;
  try {
    url = await broker.listen(host, config.port);
  } catch (err) {
    await policies.close();
    throw err;
  }
  log.info(
    {
      url,
      policies: Object.keys(policies.resolved),
      headerRules: config.headerRules.length,
    },
    'egress broker ready',
  );
  return {
    url,
    close: async () => {
      await broker.close();
      await policies.close();
    },
  };
}
