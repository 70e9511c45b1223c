/**
 * Settings of `mcp-v8 controller`, from the MCP_V8_* environment the chart renders
 * (charts/mcp-v8/templates/controller-deployment.yaml) plus the pod's downward API. The runner
 * pods' settings are read by runnerPodSettingsFromEnv, the connections by connectionSettings.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { parseEnv } from '../core/config-env.ts';

const Json = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

const Millis = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const EnvSchema = z.object({
  POD_NAME: z.string().min(1).default(hostname()),
  POD_NAMESPACE: z.string().min(1).default('default'),
  MCP_V8_LEADER_ELECTION_LEASE: z.string().min(1).default('mcp-v8-controller'),
  /** `false` for a single replica or a test without a Lease. */
  MCP_V8_LEADER_ELECTION: z.enum(['true', 'false']).default('true'),
  MCP_V8_LEASE_DURATION_MS: Millis(15_000),
  MCP_V8_LEASE_RENEW_DEADLINE_MS: Millis(10_000),
  MCP_V8_LEASE_RETRY_PERIOD_MS: Millis(2_000),
  MCP_V8_HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MCP_V8_RUNNER_SUBJECT_PREFIX: z.string().min(1).default('mcpv8'),
  MCP_V8_RUNNER_HEARTBEAT_TIMEOUT_MS: Millis(10_000),
  /** Tenants as the chart renders them; empty = Executions in every namespace. */
  MCP_V8_TENANTS: Json(z.array(z.object({ namespace: z.string().min(1) }).loose())).default([]),
  MCP_V8_EXECUTION_WORKERS: z.coerce.number().int().min(1).max(256).default(16),
  /** Outside a cluster: the kubeconfig file to use. */
  MCP_V8_KUBECONFIG: z.string().min(1).optional(),
  MCP_V8_STATELESS: z.enum(['true', 'false']).default('false'),
});

export interface ControllerConfig {
  identity: string;
  /** Where RunnerPools, runner pods and the Lease live. */
  namespace: string;
  leaderElection?: { lease: string; durationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  healthPort: number;
  runner: {
    subjectPrefix: string;
    heartbeatTimeoutMs: number;
  };
  /** Namespaces whose Executions are run; undefined = all. */
  tenantNamespaces?: string[];
  executionWorkers: number;
  kubeconfigPath?: string;
  stateless: boolean;
}

/** @throws MCPV8_ERR_CONFIG_INVALID naming every bad variable. */
export function controllerConfig(env: NodeJS.ProcessEnv): ControllerConfig {
  const e = parseEnv(EnvSchema, env);
  return {
    identity: e.POD_NAME,
    namespace: e.POD_NAMESPACE,
    ...(e.MCP_V8_LEADER_ELECTION === 'true' && {
      leaderElection: {
        lease: e.MCP_V8_LEADER_ELECTION_LEASE,
        durationMs: e.MCP_V8_LEASE_DURATION_MS,
        renewDeadlineMs: e.MCP_V8_LEASE_RENEW_DEADLINE_MS,
        retryPeriodMs: e.MCP_V8_LEASE_RETRY_PERIOD_MS,
      },
    }),
    healthPort: e.MCP_V8_HEALTH_PORT,
    runner: {
      subjectPrefix: e.MCP_V8_RUNNER_SUBJECT_PREFIX,
      heartbeatTimeoutMs: e.MCP_V8_RUNNER_HEARTBEAT_TIMEOUT_MS,
    },
    ...(e.MCP_V8_TENANTS.length > 0 && { tenantNamespaces: e.MCP_V8_TENANTS.map((t) => t.namespace) }),
    executionWorkers: e.MCP_V8_EXECUTION_WORKERS,
    ...(e.MCP_V8_KUBECONFIG !== undefined && { kubeconfigPath: e.MCP_V8_KUBECONFIG }),
    stateless: e.MCP_V8_STATELESS === 'true',
  };
}
