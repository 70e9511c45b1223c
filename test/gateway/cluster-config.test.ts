// The cluster gateway's configuration: flags and MCP_V8_* environment (flags win), defaults,
// the tenants JSON the chart renders, and every problem as MCPV8_ERR_CONFIG_INVALID.
import { describe, expect, it } from 'vitest';
import { loadClusterGatewayConfig } from '../../src/cli/cluster-config.ts';
import { isMcpv8Error } from '../../src/core/index.ts';

const BASE = { MCP_V8_NATS_URL: 'nats://nats:4222', MCP_V8_KUBECONFIG: '/etc/kube.yaml' };

function problem(argv: string[], env: NodeJS.ProcessEnv): string {
  try {
    loadClusterGatewayConfig(argv, env);
  } catch (err) {
    if (isMcpv8Error(err, 'MCPV8_ERR_CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected a configuration error');
}

describe('loadClusterGatewayConfig', () => {
  it('reads the environment the chart sets, with defaults', () => {
    const config = loadClusterGatewayConfig(['serve', '--mode', 'cluster'], {
      MCP_V8_NATS_URL: 'nats://nats:4222',
      MCP_V8_NATS_TOKEN: 's3cret-token',
      MCP_V8_S3_BUCKET: 'heaps',
      MCP_V8_S3_ENDPOINT: 'http://minio:9000',
      MCP_V8_S3_PREFIX: 'h/',
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      MCP_V8_TENANTS: '[{"namespace":"team-a","serviceAccounts":["agent"]}]',
      MCP_V8_TENANT_NAMESPACE_LABELS: '{"mcpv8.dev/tenant":"true"}',
      MCP_V8_HTTP_PORT: '8080',
      MCP_V8_HOST: '0.0.0.0',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    });
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      nats: { url: 'nats://nats:4222', token: 's3cret-token' },
      s3: {
        bucket: 'heaps',
        prefix: 'h/',
        endpoint: 'http://minio:9000',
        region: 'us-east-1',
        forcePathStyle: true,
      },
      kube: { kind: 'in-cluster' },
      tenants: [{ namespace: 'team-a', serviceAccounts: ['agent'] }],
      tenantNamespaceLabels: { 'mcpv8.dev/tenant': 'true' },
      tokenAudiences: [],
      heapMemoryMaxMb: 8,
      executionTimeoutSecs: 30,
      mcp: { sessionIdleSecs: 1800, maxSessions: 1000, maxSessionsPerClient: 100, streamBufferKib: 1024 },
      logLevel: 'info',
    });
  });

  it('reads the MCP client bounds, flags over environment, and refuses values out of range', () => {
    const config = loadClusterGatewayConfig(
      ['--mcp-session-idle-timeout', '60', '--mcp-max-sessions', '50'],
      {
        ...BASE,
        MCP_V8_MCP_SESSION_IDLE_TIMEOUT: '5',
        MCP_V8_MCP_MAX_SESSIONS_PER_CLIENT: '7',
        MCP_V8_MCP_STREAM_BUFFER_KIB: '64',
      },
    );
    expect(config.mcp).toEqual({
      sessionIdleSecs: 60,
      maxSessions: 50,
      maxSessionsPerClient: 7,
      streamBufferKib: 64,
    });
    expect(problem(['--mcp-session-idle-timeout', '0'], BASE)).toContain('--mcp-session-idle-timeout');
    expect(problem(['--mcp-stream-buffer-kib', '1'], BASE)).toContain('--mcp-stream-buffer-kib');
    expect(problem([], { ...BASE, MCP_V8_MCP_MAX_SESSIONS: 'many' })).toContain('--mcp-max-sessions');
  });

  it('lets flags win over the environment and a named kubeconfig over in-cluster', () => {
    const config = loadClusterGatewayConfig(
      ['--http-port', '9000', '--kubeconfig', '/k', '--token-audience', 'mcp-v8', '--token-audience', 'x'],
      { ...BASE, MCP_V8_HTTP_PORT: '8080', KUBERNETES_SERVICE_HOST: '10.96.0.1' },
    );
    expect(config.port).toBe(9000);
    expect(config.kube).toEqual({ kind: 'file', path: '/k' });
    expect(config.tokenAudiences).toEqual(['mcp-v8', 'x']);
    expect(config.s3).toBeUndefined();
    // No tenant named: none (the gateway then refuses every caller), never "any".
    expect(config.tenants).toEqual([]);
    expect(config.tenantNamespaceLabels).toEqual({});
  });

  it('reports bad values without echoing secrets', () => {
    expect(problem([], { MCP_V8_KUBECONFIG: '/k' })).toContain('--nats-url');
    expect(problem([], { MCP_V8_NATS_URL: 'nats://n:4222' })).toContain('--kubeconfig is required');
    expect(problem(['--http-port', '0'], BASE)).toContain('--http-port');
    expect(problem([], { ...BASE, MCP_V8_TENANTS: 'not json' })).toContain('--tenants must be JSON');
    expect(problem([], { ...BASE, MCP_V8_TENANTS: '[{"namespace":"Team_A"}]' })).toContain('--tenants');
    expect(problem([], { ...BASE, MCP_V8_TENANT_NAMESPACE_LABELS: '["a"]' })).toContain(
      '--tenant-namespace-labels',
    );
    expect(problem(['--tenant-namespace-labels', '{"bad key!":"x"}'], BASE)).toContain(
      '--tenant-namespace-labels',
    );
    expect(problem(['--s3-prefix', 'x/'], BASE)).toContain('--s3-prefix needs --s3-bucket');
    expect(problem(['--mode', 'embedded'], BASE)).toContain('--mode');
    expect(problem(['--bogus'], BASE)).toContain('bogus');
    const endpoint = problem([], {
      ...BASE,
      MCP_V8_S3_BUCKET: 'b',
      MCP_V8_S3_ENDPOINT: 'http://key:secret@minio',
    });
    expect(endpoint).toContain('--s3-endpoint');
    expect(endpoint).not.toContain('secret');
  });
});
