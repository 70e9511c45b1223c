/**
 * Configuration of a runner pod (`mcp-v8 runner`): flags, each with an MCP_V8_* environment
 * fallback (the chart sets the environment), validated up front so a bad setting stops the pod at
 * once with one clear line instead of failing its first execution.
 *
 * Secrets never come from flags (any process on the node can read argv): the NATS token only from
 * MCP_V8_NATS_TOKEN, S3 credentials only from the AWS SDK's chain (AWS_* env, profile, IMDS),
 * runner options (fetch header rules) from a mounted file or MCPV8_RUNNER_OPTIONS. Messages never
 * echo a value that may hold one. With an egress broker (MCP_V8_EGRESS_URL) the pod holds no
 * header rules at all: the broker performs its requests.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_RUNNER_SUBJECT_PREFIX } from '../../cluster/runner-subjects.ts';
import { assertSubjectPrefix } from '../../cluster/nats-tokens.ts';
import { DEFAULT_RUNNER_OPTIONS, type RunnerOptions } from '../runner-process.ts';
import type { S3Settings } from '../../cluster/s3-client.ts';
import { EGRESS_URL_ENV } from '../../cluster/egress-protocol.ts';

/** Env var holding the runner options as JSON; deleted once read. */
export const RUNNER_OPTIONS_ENV = 'MCPV8_RUNNER_OPTIONS';

/** Where heaps of cluster runs are kept (credentials come from the AWS SDK's default chain). */
export type RunnerS3Config = S3Settings;

export interface RunnerPodConfig {
  /** NATS server URL(s), comma-separated. */
  natsUrl: string;
  /** Token auth; a secret: never logged. */
  natsToken?: string;
  /** The pod name. */
  runnerId: string;
  subjectPrefix: string;
  /** How long SIGTERM waits for running executions. */
  drainTimeoutMs: number;
  /** JSON runner options (a mounted Secret). */
  optionsFile?: string;
  /** Absent: stateful cluster runs fail (heaps need S3). */
  s3?: RunnerS3Config;
}

/** A setting is missing or invalid; the message names it and never echoes a secret. */
export class RunnerConfigError extends Error {
  override readonly name = 'RunnerConfigError';
}

const FLAGS = {
  'nats-url': { type: 'string' },
  'runner-id': { type: 'string' },
  'options-file': { type: 'string' },
  'subject-prefix': { type: 'string' },
  'drain-timeout-ms': { type: 'string' },
  's3-bucket': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-prefix': { type: 'string' },
  's3-region': { type: 'string' },
  's3-force-path-style': { type: 'boolean' },
} as const;

/** Each setting with the flag and env var it comes from, for messages. */
const SOURCES: Record<string, string> = {
  natsUrl: '--nats-url (MCP_V8_NATS_URL)',
  natsToken: 'MCP_V8_NATS_TOKEN',
  runnerId: '--runner-id (POD_NAME)',
  subjectPrefix: '--subject-prefix (MCP_V8_RUNNER_SUBJECT_PREFIX)',
  drainTimeoutMs: '--drain-timeout-ms',
  optionsFile: '--options-file',
  bucket: '--s3-bucket (MCP_V8_S3_BUCKET)',
  prefix: '--s3-prefix (MCP_V8_S3_PREFIX)',
  endpoint: '--s3-endpoint (MCP_V8_S3_ENDPOINT)',
  region: '--s3-region (MCP_V8_S3_REGION)',
  forcePathStyle: '--s3-force-path-style (MCP_V8_S3_FORCE_PATH_STYLE)',
};

const NATS_PROTOCOLS = new Set(['nats:', 'tls:', 'ws:', 'wss:']);

/** A server URL, or host:port (the client's default scheme is nats://). */
function isNatsServer(s: string): boolean {
  try {
    const url = new URL(s.includes('://') ? s : `nats://${s}`);
    return NATS_PROTOCOLS.has(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

const S3Schema = z.object({
  bucket: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'must be a bucket name (letters, digits, . _ -)'),
  prefix: z.string().max(512),
  endpoint: z
    .string()
    .refine((s) => URL.canParse(s) && !new URL(s).username && !new URL(s).password, {
      message: 'must be an http(s) URL without credentials (those come from AWS_* variables)',
    })
    .refine((s) => ['http:', 'https:'].includes(new URL(s).protocol), { message: 'must be an http(s) URL' })
    .optional(),
  region: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a region name like us-east-1'),
  forcePathStyle: z.boolean(),
});

const ConfigSchema = z.object({
  natsUrl: z
    .string({ error: 'is required' })
    .min(1, 'is required')
    .refine((s) => s.split(',').every((u) => isNatsServer(u.trim())), {
      message: 'must be nats://host:port (or a comma-separated list)',
    }),
  natsToken: z.string().min(1).max(4096).optional(),
  runnerId: z.string({ error: 'is required' }).min(1, 'is required').max(253),
  subjectPrefix: z.string().refine(
    (s) => {
      try {
        assertSubjectPrefix(s);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be dot-separated NATS subject tokens without wildcards' },
  ),
  drainTimeoutMs: z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number of milliseconds')
    .transform(Number)
    .refine((n) => n <= 3_600_000, { message: 'must be at most 3600000 (one hour)' }),
  optionsFile: z.string().min(1).optional(),
  s3: S3Schema.optional(),
});

/** `true`/`false`/`1`/`0` (case-insensitive); '' or absent is false. */
function envBool(value: string | undefined, name: string): boolean {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new RunnerConfigError(`${name} must be true or false`);
}

/** An env var's value, with '' treated as unset (a chart renders unset values as ''). */
function envStr(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The pod's configuration from its arguments (without the role word) and environment.
 * S3 settings other than the bucket are ignored when no bucket is set.
 * @throws RunnerConfigError for an unknown flag or a missing or invalid setting.
 */
export function parseRunnerPodConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RunnerPodConfig {
  let values: { [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string };
  try {
    values = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (err) {
    // Node's messages span lines; the pod reports one.
    throw new RunnerConfigError((err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' '));
  }
  const bucket = values['s3-bucket'] ?? envStr(env, 'MCP_V8_S3_BUCKET');
  const s3 = bucket && {
    bucket,
    prefix: values['s3-prefix'] ?? envStr(env, 'MCP_V8_S3_PREFIX') ?? '',
    endpoint: values['s3-endpoint'] ?? envStr(env, 'MCP_V8_S3_ENDPOINT'),
    // The SDK's own fallbacks, as the embedded server's --s3-region.
    region:
      values['s3-region'] ??
      (envStr(env, 'MCP_V8_S3_REGION') || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1'),
    forcePathStyle:
      values['s3-force-path-style'] ?? envBool(env.MCP_V8_S3_FORCE_PATH_STYLE, SOURCES.forcePathStyle!),
  };
  const parsed = ConfigSchema.safeParse({
    natsUrl: values['nats-url'] ?? envStr(env, 'MCP_V8_NATS_URL'),
    natsToken: envStr(env, 'MCP_V8_NATS_TOKEN'),
    runnerId: values['runner-id'] ?? envStr(env, 'POD_NAME'),
    subjectPrefix:
      values['subject-prefix'] ??
      envStr(env, 'MCP_V8_RUNNER_SUBJECT_PREFIX') ??
      DEFAULT_RUNNER_SUBJECT_PREFIX,
    drainTimeoutMs: values['drain-timeout-ms'] ?? '30000',
    optionsFile: values['options-file'],
    s3: s3 || undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[issue.path.length - 1] ?? '');
    throw new RunnerConfigError(`${SOURCES[key] ?? key} ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Runner options from `file`, else the env var, else the defaults. The env var is deleted
 * whatever happens: its secrets must not reach anything user code or a later process could read.
 * @throws RunnerConfigError when the text is not a JSON object (the text is never echoed).
 */
export function readRunnerOptions(file: string | undefined, env: NodeJS.ProcessEnv): RunnerOptions {
  const fromEnv = env[RUNNER_OPTIONS_ENV];
  delete env[RUNNER_OPTIONS_ENV];
  let text: string | undefined;
  try {
    text = file !== undefined ? readFileSync(file, 'utf8') : fromEnv;
  } catch (err) {
    throw new RunnerConfigError(
      `--options-file cannot be read (${(err as { code?: string }).code ?? 'error'})`,
    );
  }
  if (text === undefined || text.trim() === '') return withEgress(DEFAULT_RUNNER_OPTIONS, env);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RunnerConfigError('runner options are not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new RunnerConfigError('runner options must be a JSON object');
  return withEgress({ ...DEFAULT_RUNNER_OPTIONS, ...(parsed as Partial<RunnerOptions>) }, env);
}

/**
 * The options with the egress broker of MCP_V8_EGRESS_URL, when set. Header rules then belong to
 * the broker: a pod given some anyway is misconfigured (the point is that it holds no secrets).
 */
function withEgress(options: RunnerOptions, env: NodeJS.ProcessEnv): RunnerOptions {
  const url = envStr(env, EGRESS_URL_ENV);
  if (url === undefined) return options;
  const parsed = URL.parse(url);
  if (parsed === null || !/^https?:$/.test(parsed.protocol) || parsed.username || parsed.password)
    throw new RunnerConfigError(`${EGRESS_URL_ENV} must be an http(s) URL without credentials`);
  if ((options.fetch.headerRules?.length ?? 0) > 0)
    throw new RunnerConfigError(
      `fetch header rules are configured on the egress broker, not on a runner given ${EGRESS_URL_ENV}`,
    );
  return { ...options, egressUrl: url };
}
