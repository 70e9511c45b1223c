// The multi-node flags: --nats-url (and MCP_V8_NATS_URL) joins a cluster of embedded nodes; what
// it needs (heaps every node can read) and what it rules out are refused at start-up.
import { describe, expect, it } from 'vitest';
import { helpText, loadConfig, type Config } from '../../src/cli/config.ts';
import { configProblem as problem } from './config-problem.ts';

const S3 = ['--s3-bucket', 'heaps'];
const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadConfig(argv, env) as Config;

describe('multi-node flags', () => {
  it('is a single node without --nats-url', () => {
    expect(config([]).nats).toBeUndefined();
  });

  it('takes the URL, token, node id and prefix from flags or the environment', () => {
    expect(
      config([...S3, '--nats-url', 'nats://n:4222', '--nats-token', 's3cret', '--node-id', 'a-1']).nats,
    ).toEqual({ url: 'nats://n:4222', token: 's3cret', nodeId: 'a-1', prefix: 'MCPV8' });
    expect(
      config(['--stateless'], {
        MCP_V8_NATS_URL: 'nats://a:4222,nats://b:4222',
        MCP_V8_NATS_TOKEN: 't',
        MCP_V8_NATS_PREFIX: 'TEAM_A',
      }).nats,
    ).toEqual({ url: 'nats://a:4222,nats://b:4222', token: 't', prefix: 'TEAM_A' });
  });

  it('refuses heaps only one node can read, and a local session database', () => {
    expect(problem(['--nats-url', 'nats://n:4222', '--directory-path', '/h'])).toContain(
      '--directory-path cannot be used with --nats-url',
    );
    expect(problem(['--nats-url', 'nats://n:4222'])).toContain(
      '--nats-url needs --s3-bucket (heaps shared by the nodes) or --stateless',
    );
    expect(problem([...S3, '--nats-url', 'nats://n:4222', '--session-db-path', '/s'])).toContain(
      '--session-db-path cannot be used with --nats-url',
    );
  });

  it('refuses bad values without echoing a secret', () => {
    expect(problem([...S3, '--nats-url', 'http://n:4222'])).toContain('--nats-url must be a nats://');
    const secret = problem([...S3, '--nats-url', 'nats://user:hunter2@n:4222']);
    expect(secret).toContain('must not contain credentials');
    expect(secret).not.toContain('hunter2');
    expect(problem([...S3, '--nats-url', 'nats://n', '--node-id', 'a.b'])).toContain('--node-id must be');
    expect(problem([...S3, '--nats-url', 'nats://n', '--nats-prefix', 'a.*'])).toContain(
      '--nats-prefix must be',
    );
    expect(problem(['--node-id', 'a'])).toContain('--node-id needs --nats-url');
  });

  it('documents the flags in --help', () => {
    for (const flag of ['--nats-url', '--nats-token', '--node-id', '--nats-prefix'])
      expect(helpText()).toContain(flag);
  });
});
