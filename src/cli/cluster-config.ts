/**
 * Configuration of the cluster gateway (`mcp-v8 serve --mode cluster`): flags, each with an
 * `MCP_V8_*` environment equivalent (flags win; the chart sets the environment). Validated once
 * with zod; every problem is reported together as MCPV8_ERR_CONFIG_INVALID. Secrets (the NATS
 * token, S3 credentials through the standard AWS_* environment) are never echoed in messages.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { HEAP_MB_MAX, Mcpv8Error, TIMEOUT_SECONDS_MAX } from '../core/index.ts';
import { NamespaceLabelsSchema, TenantListSchema, type Tenant } from '../gateway/auth/tenancy.ts';
import type { S3Settings } from '../cluster/s3-client.ts';
import {
  MCP_LIMIT_FLAGS,
  MCP_LIMIT_RANGES,
  readMcpLimits,
  type McpLimitFlag,
  type McpLimitsConfig,
} from './mcp-limits-config.ts';
import { EGRESS_FLAGS, readEgressConfig, type EgressConfig } from './egress-config.ts';

export interface ClusterGatewayConfig {
  port: number;
  host: string;
  nats: { url: string; token?: string };
  /** Heaps in S3, one prefix per tenant; absent: stateless (no heaps, sessions or tags). */
  s3?: S3Settings;
  /**
   * How the API server is reached: a kubeconfig file when one is named, else the pod's own
   * ServiceAccount (in-cluster: KUBERNETES_SERVICE_HOST is set).
   */
  kube: { kind: 'file'; path: string } | { kind: 'in-cluster' };
  /**
   * Tenants by name (MCP_V8_TENANTS) and by namespace labels (MCP_V8_TENANT_NAMESPACE_LABELS);
   * with neither, no caller is served (a tenant must be named).
   */
  tenants: readonly Tenant[];
  tenantNamespaceLabels: Readonly<Record<string, string>>;
  /** Audiences a caller's token must carry; empty: the API server's own. */
  tokenAudiences: readonly string[];
  heapMemoryMaxMb: number;
  executionTimeoutSecs: number;
  /** Bounds of MCP over HTTP: session idle expiry and counts, stream buffer. */
  mcp: McpLimitsConfig;
  logLevel: string;
  /** The egress broker of runner pods (its own port); absent: off. */
  egress?: EgressConfig;
}

/** Flag → [type, help]. The environment variable is MCP_V8_ + the flag in upper snake case. */
export const CLUSTER_FLAGS = {
  mode: ['string', 'cluster (the embedded server is the default mode)'],
  'http-port': ['string', 'Serve MCP (/mcp, /sse) and the REST API on this port (default 8080)'],
  host: ['string', 'Bind address (default 0.0.0.0)'],
  'nats-url': ['string', 'NATS server, e.g. nats://nats:4222 (required)'],
  'nats-token': ['string', 'NATS token (prefer the MCP_V8_NATS_TOKEN environment variable)'],
  's3-bucket': ['string', 'Heaps in this S3 bucket (absent: stateless)'],
  's3-prefix': ['string', 'Key prefix before each tenant namespace (default none)'],
  's3-endpoint': ['string', 'URL of an S3-compatible server (default AWS S3)'],
  's3-region': ['string', 'S3 region (default AWS_REGION, else us-east-1)'],
  's3-force-path-style': ['boolean', 'Address the bucket in the path (most S3-compatible servers)'],
  kubeconfig: ['string', 'Kubeconfig file (default: in-cluster credentials)'],
  tenants: ['string', 'Tenants by name: JSON [{"namespace": "team-a", "serviceAccounts": ["agent"]}]'],
  'tenant-namespace-labels': [
    'string',
    'Tenants by label: JSON {"label": "value"}; namespaces with all of them (default: none)',
  ],
  'token-audience': ['string', 'Audience caller tokens must carry (repeatable; env: comma-separated)'],
  'heap-memory-max': ['string', 'Default isolate heap cap per execution, MiB (default 8)'],
  'execution-timeout': ['string', 'Default wall-clock limit per execution, seconds (default 30)'],
  ...MCP_LIMIT_FLAGS,
  ...EGRESS_FLAGS,
  'log-level': ['string', 'fatal, error, warn, info, debug, trace or silent (default info)'],
} as const;

type Flag = keyof typeof CLUSTER_FLAGS;
const MULTI: ReadonlySet<Flag> = new Set(['token-audience', 'fetch-header']);
/** Flags whose environment form is read elsewhere (fetch-config.ts: one rule per line). */
const OWN_ENV: ReadonlySet<Flag> = new Set(['fetch-header']);

const IntString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be an integer')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be from ${min} to ${max}`);

const HttpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http(s) URL')
  .refine((u) => !new URL(u).username && !new URL(u).password, 'must not contain credentials');

const NatsUrl = z
  .string()
  .refine((u) => u.split(',').every((one) => /^(nats|tls|wss?):\/\/[^\s/]+/.test(one.trim())), {
    message: 'must be nats://host:port (comma-separated for several)',
  });

const Json = z.string().transform((text, ctx) => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON' });
    return z.NEVER;
  }
});

const RawSchema = z.object({
  mode: z.literal('cluster').optional(),
  'http-port': IntString(1, 65535).default(8080),
  host: z.string().min(1).default('0.0.0.0'),
  'nats-url': NatsUrl,
  'nats-token': z.string().min(1).optional(),
  's3-bucket': z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'must be a bucket name')
    .optional(),
  's3-prefix': z.string().max(512).optional(),
  's3-endpoint': HttpUrl.optional(),
  's3-region': z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a region name like us-east-1')
    .optional(),
  's3-force-path-style': z.boolean().default(false),
  kubeconfig: z.string().min(1).optional(),
  tenants: Json.pipe(TenantListSchema).optional(),
  'tenant-namespace-labels': Json.pipe(NamespaceLabelsSchema).optional(),
  'token-audience': z.array(z.string().min(1)).default([]),
  'heap-memory-max': IntString(1, HEAP_MB_MAX).default(8),
  'execution-timeout': IntString(1, TIMEOUT_SECONDS_MAX).default(30),
  'log-level': z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  'egress-port': IntString(1, 65535).optional(),
  // Checked by policy-config.ts and fetch-config.ts, as in embedded mode.
  ...(Object.fromEntries(
    (Object.keys(EGRESS_FLAGS) as Flag[])
      .filter((f) => f !== 'egress-port')
      .map((f) => [f, MULTI.has(f) ? z.array(z.string()).optional() : z.string().optional()]),
  ) as Record<Exclude<keyof typeof EGRESS_FLAGS, 'egress-port'>, z.ZodOptional<z.ZodString>>),
  ...(Object.fromEntries(
    Object.entries(MCP_LIMIT_RANGES).map(([flag, [min, max]]) => [flag, IntString(min, max).optional()]),
  ) as Record<McpLimitFlag, z.ZodOptional<ReturnType<typeof IntString>>>),
});

function envName(flag: string): string {
  return `MCP_V8_${flag.replaceAll('-', '_').toUpperCase()}`;
}

/**
 * The cluster gateway's configuration from argv (positional `serve` allowed) and env.
 * @throws MCPV8_ERR_CONFIG_INVALID listing every problem
 */
export function loadClusterGatewayConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ClusterGatewayConfig {
  let values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(CLUSTER_FLAGS).map(([name, [type]]) => [
          name,
          { type, multiple: MULTI.has(name as Flag) },
        ]),
      ),
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [(err as Error).message]);
  }
  const extra = positionals.filter((p) => p !== 'serve');
  if (extra.length > 0) throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [`unexpected argument ${extra[0]}`]);

  const raw: Record<string, unknown> = {};
  for (const [flag, [type]] of Object.entries(CLUSTER_FLAGS) as Array<[Flag, readonly [string, string]]>) {
    const e = OWN_ENV.has(flag) ? undefined : env[envName(flag)];
    const fromEnv =
      e === undefined || e === ''
        ? undefined
        : type === 'boolean'
          ? e === '1' || e.toLowerCase() === 'true'
          : MULTI.has(flag)
            ? e
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : e;
    const value = values[flag] ?? fromEnv;
    if (value !== undefined) raw[flag] = value;
  }
  const parsed = RawSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const flag = String(i.path[0] ?? '');
      // Never echo a secret's value; zod messages here name rules, not values.
      return `--${flag}${i.path.length > 1 ? `[${i.path.slice(1).join('.')}]` : ''} ${i.message}`;
    });
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [problems.join('; ')]);
  }
  const v = parsed.data;
  const bucket = v['s3-bucket'];
  if (!bucket) {
    const s3Only = (['s3-prefix', 's3-endpoint', 's3-region'] as const).filter((f) => v[f] !== undefined);
    if (s3Only.length > 0) {
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [`--${s3Only[0]} needs --s3-bucket`]);
    }
  }
  const problems: string[] = [];
  const egress = readEgressConfig(
    v['egress-port'],
    (flag) => v[flag],
    () => v['fetch-header'] as unknown as string[] | undefined,
    env,
    problems,
  );
  if (problems.length > 0) throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [problems.join('; ')]);
  let kube: ClusterGatewayConfig['kube'];
  if (v.kubeconfig !== undefined) kube = { kind: 'file', path: v.kubeconfig };
  else if (env.KUBERNETES_SERVICE_HOST) kube = { kind: 'in-cluster' };
  else {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      '--kubeconfig is required outside a cluster (KUBERNETES_SERVICE_HOST is not set)',
    ]);
  }
  return {
    port: v['http-port'],
    host: v.host,
    nats: { url: v['nats-url'], ...(v['nats-token'] !== undefined && { token: v['nats-token'] }) },
    ...(bucket && {
      s3: {
        bucket,
        prefix: v['s3-prefix'] ?? '',
        ...(v['s3-endpoint'] !== undefined && { endpoint: v['s3-endpoint'] }),
        region: v['s3-region'] ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1'),
        forcePathStyle: v['s3-force-path-style'],
      },
    }),
    kube,
    tenants: v.tenants ?? [],
    tenantNamespaceLabels: v['tenant-namespace-labels'] ?? {},
    tokenAudiences: v['token-audience'],
    heapMemoryMaxMb: v['heap-memory-max'],
    executionTimeoutSecs: v['execution-timeout'],
    mcp: readMcpLimits((flag, _min, _max, dflt) => v[flag] ?? dflt),
    logLevel: v['log-level'],
    ...(egress && { egress }),
  };
}
