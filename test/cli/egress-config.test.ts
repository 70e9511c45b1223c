// The egress broker's configuration, in the gateway's flags and environment (the chart's form)
// and in the runner pod's (MCP_V8_EGRESS_URL): off unless asked for, a key required, the
// embedded server's policy and header rule formats, and no header rules in a pod given a broker.
import { describe, expect, it } from 'vitest';
import { loadClusterGatewayConfig } from '../../src/cli/cluster-config.ts';
import { isMcpv8Error } from '../../src/core/index.ts';
import { RunnerConfigError, readRunnerOptions } from '../../src/runner/pod/config.ts';

const BASE = { MCP_V8_NATS_URL: 'nats://nats:4222', MCP_V8_KUBECONFIG: '/etc/kube.yaml' };
const KEY = 'an-egress-key-of-at-least-32-bytes!';
const RULE = 'host=api.internal,header=Authorization,value=Bearer abc,def';

function problem(argv: string[], env: NodeJS.ProcessEnv): string {
  try {
    loadClusterGatewayConfig(argv, env);
  } catch (err) {
    if (isMcpv8Error(err, 'MCPV8_ERR_CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected a configuration error');
}

describe('the gateway’s egress broker configuration', () => {
  it('is off by default', () => {
    expect(loadClusterGatewayConfig([], BASE).egress).toBeUndefined();
  });

  it('reads the port, policies and header rules (one per line in the environment)', () => {
    const config = loadClusterGatewayConfig([], {
      ...BASE,
      MCP_V8_EGRESS_PORT: '8090',
      MCP_V8_EGRESS_KEY: KEY,
      MCP_V8_OPA_URL: 'http://opa:8181',
      MCP_V8_FETCH_HEADER: `${RULE}\nhost=*.internal,header=X-Key,value=k`,
    });
    expect(config.egress).toMatchObject({
      port: 8090,
      policies: { categories: { fetch: { sources: [{ kind: 'remote', url: 'http://opa:8181' }] } } },
      headerRules: [
        { host: 'api.internal', headers: { Authorization: 'Bearer abc,def' } },
        { host: '*.internal', headers: { 'X-Key': 'k' } },
      ],
    });
  });

  it('takes repeated --fetch-header flags over the environment', () => {
    const config = loadClusterGatewayConfig(
      ['--egress-port', '8090', '--opa-url', 'http://opa:8181', '--fetch-header', RULE],
      { ...BASE, MCP_V8_EGRESS_KEY: KEY, MCP_V8_FETCH_HEADER: 'host=x,header=Y,value=z' },
    );
    expect(config.egress?.headerRules).toHaveLength(1);
  });

  it('needs the key, long enough, and never echoes it or a rule value', () => {
    expect(problem(['--egress-port', '8090'], BASE)).toContain('needs MCP_V8_EGRESS_KEY');
    const short = problem(['--egress-port', '8090'], { ...BASE, MCP_V8_EGRESS_KEY: 'short-s3cret' });
    expect(short).toContain('at least 32 bytes');
    expect(short).not.toContain('short-s3cret');
    const bad = problem(['--egress-port', '8090', '--fetch-header', 'host=a,header=b c,value=s3cret-v'], {
      ...BASE,
      MCP_V8_EGRESS_KEY: KEY,
    });
    expect(bad).not.toContain('s3cret-v');
  });

  it('refuses policies or header rules without the broker they would configure', () => {
    expect(problem(['--opa-url', 'http://opa:8181'], BASE)).toContain('need --egress-port');
  });
});

describe('a runner pod given an egress broker', () => {
  it('sends its requests there', () => {
    const options = readRunnerOptions(undefined, { MCP_V8_EGRESS_URL: 'http://gateway-egress:8090' });
    expect(options.egressUrl).toBe('http://gateway-egress:8090');
    expect(readRunnerOptions(undefined, {}).egressUrl).toBeUndefined();
  });

  it('refuses header rules (they belong to the broker) and a URL that is not http(s)', () => {
    const env = {
      MCP_V8_EGRESS_URL: 'http://gateway-egress:8090',
      MCPV8_RUNNER_OPTIONS: JSON.stringify({
        fetch: { headerRules: [{ host: 'a.internal', headers: { 'X-Key': 's3cret-value' } }] },
      }),
    };
    let caught: unknown;
    try {
      readRunnerOptions(undefined, env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RunnerConfigError);
    expect((caught as Error).message).toContain('configured on the egress broker');
    expect((caught as Error).message).not.toContain('s3cret-value');
    expect(() => readRunnerOptions(undefined, { MCP_V8_EGRESS_URL: 'nats://x:1' })).toThrow(
      /MCP_V8_EGRESS_URL must be an http\(s\) URL/,
    );
  });
});
