/**
 * The storage part of the configuration: where heaps are kept (`--stateless`, a directory, or S3
 * with an optional local cache) and how S3 is reached. S3 credentials come only from the
 * standard AWS environment through the SDK's default chain (AWS_ACCESS_KEY_ID, profiles, IMDS …),
 * never from a flag, so they never appear in argv, config or logs.
 */

/** Where heaps are kept. */
export type StorageConfig =
  | { kind: 'stateless' }
  | { kind: 'directory'; path: string }
  | {
      kind: 's3';
      bucket: string;
      /** Key prefix prepended to every heap object key ('' for none). */
      prefix: string;
      /** Endpoint URL of an S3-compatible server; AWS when absent. */
      endpoint?: string;
      region: string;
      forcePathStyle: boolean;
      /** Local write-through cache. */
      cache?: { dir: string; maxBytes: number };
    };

/** Storage flags → [type, help]; spread into the CLI's flag table. */
export const STORAGE_FLAGS = {
  stateless: ['boolean', 'No persistent heaps (sessions are off)'],
  'directory-path': ['string', 'Store heaps in this directory (default /tmp/mcp-v8-heaps)'],
  's3-bucket': ['string', 'Store heaps in this S3 bucket (credentials: the standard AWS_* environment)'],
  's3-prefix': ['string', 'Key prefix for heap objects in --s3-bucket, e.g. heaps/ (default none)'],
  's3-endpoint': ['string', 'URL of an S3-compatible server (default AWS S3)'],
  's3-region': ['string', 'S3 region (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)'],
  's3-force-path-style': [
    'boolean',
    'Address the bucket in the path, not the host name (most S3-compatible servers)',
  ],
  'cache-dir': ['string', 'Local write-through cache for --s3-bucket'],
  'cache-max-mb': [
    'string',
    'Bound on the --cache-dir cache, MiB, evicting least recently used heaps (default 1024)',
  ],
} as const;

type StorageFlag = keyof typeof STORAGE_FLAGS;

/** How the CLI reads a flag (or its MCP_V8_* equivalent). */
export interface StorageFlagReader {
  str(flag: StorageFlag): string | undefined;
  bool(flag: StorageFlag): boolean;
  int(flag: StorageFlag, min: number, max: number, dflt: number): number;
}

const S3_ONLY = ['s3-prefix', 's3-endpoint', 's3-region', 's3-force-path-style', 'cache-dir'] as const;
const MAX_CACHE_MB = 1024 * 1024;

/** The storage configuration; each problem is appended to `problems`. */
export function readStorage(
  read: StorageFlagReader,
  env: NodeJS.ProcessEnv,
  problems: string[],
): StorageConfig {
  const stateless = read.bool('stateless');
  const directory = read.str('directory-path');
  const bucket = read.str('s3-bucket');
  const chosen = [
    stateless && '--stateless',
    directory && '--directory-path',
    bucket && '--s3-bucket',
  ].filter(Boolean);
  if (chosen.length > 1) problems.push(`only one storage option may be given, got ${chosen.join(' and ')}`);
  if (bucket && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket))
    problems.push(`--s3-bucket must be a bucket name (letters, digits, . _ -), got "${bucket.slice(0, 80)}"`);
  if (!bucket) {
    for (const flag of S3_ONLY) {
      const given = flag === 's3-force-path-style' ? read.bool(flag) : read.str(flag) !== undefined;
      if (given) problems.push(`--${flag} needs --s3-bucket`);
    }
  }
  const cacheDir = read.str('cache-dir');
  if (read.str('cache-max-mb') !== undefined && cacheDir === undefined)
    problems.push('--cache-max-mb needs --cache-dir');
  const cacheMaxMb = read.int('cache-max-mb', 1, MAX_CACHE_MB, 1024);
  const endpoint = read.str('s3-endpoint');
  if (endpoint !== undefined) checkEndpoint(endpoint, problems);
  const region = read.str('s3-region') ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(region))
    problems.push(`--s3-region must be a region name like us-east-1, got "${region.slice(0, 80)}"`);

  if (stateless) return { kind: 'stateless' };
  if (!bucket) return { kind: 'directory', path: directory ?? '/tmp/mcp-v8-heaps' };
  return {
    kind: 's3',
    bucket,
    prefix: read.str('s3-prefix') ?? '',
    ...(endpoint !== undefined && { endpoint }),
    region,
    forcePathStyle: read.bool('s3-force-path-style'),
    ...(cacheDir !== undefined && { cache: { dir: cacheDir, maxBytes: cacheMaxMb * 1024 * 1024 } }),
  };
}

function checkEndpoint(endpoint: string, problems: string[]): void {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    // not a URL; reported below
  }
  if (url && (url.username || url.password)) {
    // Never echo it: the value holds a secret. Credentials come from the AWS environment only.
    problems.push('--s3-endpoint must not contain credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY');
  } else if (!url || !['http:', 'https:'].includes(url.protocol) || !url.hostname) {
    problems.push(`--s3-endpoint must be an http(s) URL, got "${endpoint.slice(0, 200)}"`);
  }
}

/**
 * Several embedded nodes as one cluster: executions, output, session log and heap tags in NATS
 * JetStream, heaps in S3, each node running what it accepted.
 */
export interface NatsConfig {
  /** Server URL(s), comma-separated. */
  url: string;
  /** Token authentication (a secret: never logged). */
  token?: string;
  /** This node's id (default: generated once and kept in the data dir). */
  nodeId?: string;
  /** Prefix of the buckets, stream and subjects, so several clusters can share a server. */
  prefix: string;
}

/** NATS flags → [type, help]; spread into the CLI's flag table. */
export const NATS_FLAGS = {
  'nats-url': [
    'string',
    'Join a multi-node cluster: share executions, output and sessions through this NATS JetStream server (needs --s3-bucket or --stateless)',
  ],
  'nats-token': ['string', 'Token for --nats-url (prefer the environment variable: it is a secret)'],
  'node-id': [
    'string',
    "This node's id in a multi-node cluster (default: generated once, kept in --data-dir)",
  ],
  'nats-prefix': [
    'string',
    "Name prefix of the cluster's JetStream buckets, stream and subjects, so clusters can share a server (default MCPV8)",
  ],
} as const;

type NatsFlag = keyof typeof NATS_FLAGS;

const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The multi-node configuration (undefined without --nats-url) and what it rules out: heaps only
 * one node can read, a local session database. Each problem is appended to `problems`.
 */
export function readNats(
  str: (flag: NatsFlag | 'directory-path' | 'session-db-path') => string | undefined,
  storage: StorageConfig,
  problems: string[],
): NatsConfig | undefined {
  const url = str('nats-url');
  if (url === undefined) {
    for (const flag of ['nats-token', 'node-id', 'nats-prefix'] as const)
      if (str(flag) !== undefined) problems.push(`--${flag} needs --nats-url`);
    return undefined;
  }
  for (const server of url.split(',').map((s) => s.trim())) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(server.includes('://') ? server : `nats://${server}`);
    } catch {
      // reported below
    }
    if (parsed && (parsed.username || parsed.password)) {
      // Never echo it: the value holds a secret.
      problems.push('--nats-url must not contain credentials; set MCP_V8_NATS_TOKEN');
    } else if (!parsed || !['nats:', 'tls:', 'ws:', 'wss:'].includes(parsed.protocol) || !parsed.hostname) {
      problems.push(
        `--nats-url must be a nats://, tls://, ws:// or wss:// URL, got "${server.slice(0, 200)}"`,
      );
    }
  }
  if (str('directory-path') !== undefined) {
    problems.push('--directory-path cannot be used with --nats-url: the nodes share heaps, use --s3-bucket');
  } else if (storage.kind === 'directory') {
    problems.push('--nats-url needs --s3-bucket (heaps shared by the nodes) or --stateless');
  }
  if (str('session-db-path') !== undefined)
    problems.push('--session-db-path cannot be used with --nats-url (sessions are kept in NATS)');
  const nodeId = str('node-id');
  if (nodeId !== undefined && !NODE_ID.test(nodeId))
    problems.push(`--node-id must be 1–64 letters, digits, _ or -, got "${nodeId.slice(0, 80)}"`);
  const prefix = str('nats-prefix') ?? 'MCPV8';
  if (!NAME.test(prefix))
    problems.push(`--nats-prefix must be 1–32 letters, digits, _ or -, got "${prefix.slice(0, 80)}"`);
  const token = str('nats-token');
  return {
    url,
    ...(token !== undefined && { token }),
    ...(nodeId !== undefined && { nodeId }),
    prefix,
  };
}
