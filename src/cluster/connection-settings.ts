/**
 * How the cluster roles (gateway, controller, runner pods) reach NATS and S3: read from the
 * MCP_V8_* environment the chart sets, validated once. Credentials are never read here: the NATS
 * token is passed on as given (from a Secret), S3 keys come from the AWS SDK's default chain.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { parseEnv } from '../core/config-env.ts';
import type { S3Settings } from './s3-client.ts';

const Bool = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1');

const EnvSchema = z.object({
  MCP_V8_NATS_URL: z.string().min(1, 'MCP_V8_NATS_URL is required'),
  MCP_V8_NATS_TOKEN: z.string().optional(),
  MCP_V8_S3_BUCKET: z.string().optional(),
  MCP_V8_S3_ENDPOINT: z.url().optional(),
  MCP_V8_S3_PREFIX: z.string().default(''),
  MCP_V8_S3_REGION: z.string().default('us-east-1'),
  MCP_V8_S3_FORCE_PATH_STYLE: Bool.default(false),
});

export interface ConnectionSettings {
  nats: { url: string; token?: string };
  /** Absent: no heaps (stateless). */
  s3?: S3Settings;
}

/** @throws MCPV8_ERR_CONFIG_INVALID naming every bad variable. */
export function connectionSettings(env: NodeJS.ProcessEnv): ConnectionSettings {
  const e = parseEnv(EnvSchema, env);
  return {
    nats: { url: e.MCP_V8_NATS_URL, ...(e.MCP_V8_NATS_TOKEN && { token: e.MCP_V8_NATS_TOKEN }) },
    ...(e.MCP_V8_S3_BUCKET && {
      s3: {
        bucket: e.MCP_V8_S3_BUCKET,
        prefix: e.MCP_V8_S3_PREFIX,
        ...(e.MCP_V8_S3_ENDPOINT !== undefined && { endpoint: e.MCP_V8_S3_ENDPOINT }),
        region: e.MCP_V8_S3_REGION,
        forcePathStyle: e.MCP_V8_S3_FORCE_PATH_STYLE,
      },
    }),
  };
}

/** Connects to NATS (`url` may list servers, comma-separated); reconnects forever, as a role outlives NATS restarts. */
export function connectNats(nats: { url: string; token?: string }, name: string): Promise<NatsConnection> {
  return connect({
    servers: nats.url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    ...(nats.token !== undefined && { token: nats.token }),
  });
}
