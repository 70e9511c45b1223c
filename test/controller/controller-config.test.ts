import { describe, expect, it } from 'vitest';
import { controllerConfig } from '../../src/controller/controller-config.ts';
import { connectionSettings } from '../../src/cluster/connection-settings.ts';

describe('controller settings from the environment', () => {
  it('reads what the chart renders', () => {
    const c = controllerConfig({
      POD_NAME: 'ctl-0',
      POD_NAMESPACE: 'mcp',
      MCP_V8_LEADER_ELECTION_LEASE: 'lease-x',
      MCP_V8_HEALTH_PORT: '9090',
      MCP_V8_TENANTS: '[{"namespace":"team-a","serviceAccounts":["agent"]}]',
    });
    expect(c).toMatchObject({
      identity: 'ctl-0',
      namespace: 'mcp',
      healthPort: 9090,
      tenantNamespaces: ['team-a'],
      leaderElection: { lease: 'lease-x', durationMs: 15_000 },
      stateless: false,
    });
  });

  it('runs without a Lease when leader election is off, and watches every namespace without tenants', () => {
    const c = controllerConfig({ MCP_V8_LEADER_ELECTION: 'false' });
    expect(c.leaderElection).toBeUndefined();
    expect(c.tenantNamespaces).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    const bad = () => controllerConfig({ MCP_V8_HEALTH_PORT: 'x', MCP_V8_TENANTS: 'not json' });
    expect(bad).toThrow(/MCP_V8_HEALTH_PORT.*MCP_V8_TENANTS/);
  });

  it('requires a NATS URL and reads S3 only when a bucket is set', () => {
    expect(() => connectionSettings({})).toThrow(/MCP_V8_NATS_URL/);
    expect(connectionSettings({ MCP_V8_NATS_URL: 'nats://n:4222' }).s3).toBeUndefined();
    expect(
      connectionSettings({
        MCP_V8_NATS_URL: 'nats://n:4222',
        MCP_V8_S3_BUCKET: 'b',
        MCP_V8_S3_FORCE_PATH_STYLE: 'true',
        MCP_V8_S3_ENDPOINT: 'http://minio:9000',
      }).s3,
    ).toEqual({
      bucket: 'b',
      prefix: '',
      region: 'us-east-1',
      forcePathStyle: true,
      endpoint: 'http://minio:9000',
    });
  });
});
