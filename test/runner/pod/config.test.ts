// Runner pod configuration: flags, their environment fallbacks, validation, and the runner
// options that must leave the environment once read.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  RUNNER_OPTIONS_ENV,
  RunnerConfigError,
  parseRunnerPodConfig,
  readRunnerOptions,
} from '../../../src/runner/pod/config.ts';
import { DEFAULT_RUNNER_OPTIONS } from '../../../src/runner/runner-process.ts';

const BASE_ENV = { MCP_V8_NATS_URL: 'nats://nats:4222', POD_NAME: 'runner-0' };

function problem(argv: string[], env: NodeJS.ProcessEnv): string {
  try {
    parseRunnerPodConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(RunnerConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a RunnerConfigError');
}

describe('parseRunnerPodConfig', () => {
  it('reads everything from the environment, with defaults', () => {
    expect(parseRunnerPodConfig([], BASE_ENV)).toEqual({
      natsUrl: 'nats://nats:4222',
      runnerId: 'runner-0',
      subjectPrefix: 'mcpv8',
      drainTimeoutMs: 30_000,
    });
  });

  it('prefers flags over the environment', () => {
    const c = parseRunnerPodConfig(
      [
        '--nats-url',
        'nats://a:1,nats://b:2',
        '--runner-id',
        'r.1',
        '--subject-prefix',
        'x.y',
        '--drain-timeout-ms',
        '5',
      ],
      { ...BASE_ENV, MCP_V8_RUNNER_SUBJECT_PREFIX: 'ignored' },
    );
    expect(c).toMatchObject({
      natsUrl: 'nats://a:1,nats://b:2',
      runnerId: 'r.1',
      subjectPrefix: 'x.y',
      drainTimeoutMs: 5,
    });
  });

  it('takes the subject prefix and the NATS token from the environment', () => {
    const c = parseRunnerPodConfig([], {
      ...BASE_ENV,
      MCP_V8_RUNNER_SUBJECT_PREFIX: 'p1',
      MCP_V8_NATS_TOKEN: 's3cr3t',
    });
    expect(c).toMatchObject({ subjectPrefix: 'p1', natsToken: 's3cr3t' });
  });

  it('reads the S3 settings, region falling back to AWS_REGION', () => {
    const c = parseRunnerPodConfig([], {
      ...BASE_ENV,
      MCP_V8_S3_BUCKET: 'heaps',
      MCP_V8_S3_ENDPOINT: 'http://minio:9000',
      MCP_V8_S3_PREFIX: 'h/',
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      AWS_REGION: 'eu-west-1',
    });
    expect(c.s3).toEqual({
      bucket: 'heaps',
      prefix: 'h/',
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    expect(parseRunnerPodConfig(['--s3-bucket', 'b', '--s3-force-path-style'], BASE_ENV).s3).toEqual({
      bucket: 'b',
      prefix: '',
      region: 'us-east-1',
      forcePathStyle: true,
    });
  });

  it('has no S3 without a bucket (other S3 settings alone are ignored)', () => {
    const c = parseRunnerPodConfig([], { ...BASE_ENV, MCP_V8_S3_BUCKET: '', MCP_V8_S3_REGION: 'us-east-2' });
    expect(c.s3).toBeUndefined();
  });

  it.each([
    [[], { POD_NAME: 'r' }, /--nats-url \(MCP_V8_NATS_URL\) is required/],
    [[], { MCP_V8_NATS_URL: 'nats://n:4222' }, /--runner-id \(POD_NAME\) is required/],
    [['--nats-url', 'http://n:4222'], BASE_ENV, /--nats-url .* must be nats:\/\//],
    [['--subject-prefix', 'a.*'], BASE_ENV, /--subject-prefix .* must be/],
    [['--drain-timeout-ms=-1'], BASE_ENV, /--drain-timeout-ms must be a whole number/],
    [['--drain-timeout-ms', '99999999'], BASE_ENV, /at most 3600000/],
    [['--drain-timeout-ms', '1.5'], BASE_ENV, /must be a whole number/],
    [['--bogus'], BASE_ENV, /^Unknown option '--bogus'[^\n]*$/],
    [['--drain-timeout-ms', '-1'], BASE_ENV, /^[^\n]*ambiguous[^\n]*$/],
    [
      [],
      { ...BASE_ENV, MCP_V8_S3_BUCKET: 'bad bucket' },
      /--s3-bucket \(MCP_V8_S3_BUCKET\) must be a bucket name/,
    ],
    [
      [],
      { ...BASE_ENV, MCP_V8_S3_BUCKET: 'b', MCP_V8_S3_ENDPOINT: 'ftp://x' },
      /--s3-endpoint .* must be an http/,
    ],
    [[], { ...BASE_ENV, MCP_V8_S3_BUCKET: 'b', MCP_V8_S3_REGION: 'no/region' }, /--s3-region .* region name/],
    [
      [],
      { ...BASE_ENV, MCP_V8_S3_BUCKET: 'b', MCP_V8_S3_FORCE_PATH_STYLE: 'yes' },
      /MCP_V8_S3_FORCE_PATH_STYLE.* true or false/,
    ],
  ])('refuses %j %j', (argv, env, message) => {
    expect(problem(argv, env)).toMatch(message);
  });

  it('never echoes credentials', () => {
    const m = problem([], {
      ...BASE_ENV,
      MCP_V8_S3_BUCKET: 'b',
      MCP_V8_S3_ENDPOINT: 'http://key:hunter2@minio',
    });
    expect(m).toMatch(/without credentials/);
    expect(m).not.toContain('hunter2');
    const n = problem(['--nats-url', 'http://user:hunter2@n'], { POD_NAME: 'r' });
    expect(n).not.toContain('hunter2');
  });
});

describe('readRunnerOptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'runner-options-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the env var and deletes it', () => {
    const env: NodeJS.ProcessEnv = { [RUNNER_OPTIONS_ENV]: JSON.stringify({ warmSandboxes: 3 }) };
    expect(readRunnerOptions(undefined, env)).toEqual({ ...DEFAULT_RUNNER_OPTIONS, warmSandboxes: 3 });
    expect(env[RUNNER_OPTIONS_ENV]).toBeUndefined();
  });

  it('prefers the file, still deleting the env var', () => {
    const file = join(dir, 'o.json');
    writeFileSync(file, JSON.stringify({ liveHeaps: 1 }));
    const env: NodeJS.ProcessEnv = { [RUNNER_OPTIONS_ENV]: '{"liveHeaps":5}' };
    expect(readRunnerOptions(file, env).liveHeaps).toBe(1);
    expect(env[RUNNER_OPTIONS_ENV]).toBeUndefined();
  });

  it('defaults when nothing is given', () => {
    expect(readRunnerOptions(undefined, {})).toBe(DEFAULT_RUNNER_OPTIONS);
  });

  it('refuses what is not a JSON object without echoing it', () => {
    const env: NodeJS.ProcessEnv = { [RUNNER_OPTIONS_ENV]: '{"fetch": "secret-token' };
    expect(() => readRunnerOptions(undefined, env)).toThrow(/not valid JSON/);
    expect(env[RUNNER_OPTIONS_ENV]).toBeUndefined();
    expect(() => readRunnerOptions(undefined, { [RUNNER_OPTIONS_ENV]: '[1]' })).toThrow(/JSON object/);
    expect(() => readRunnerOptions(join(dir, 'missing.json'), {})).toThrow(/cannot be read \(ENOENT\)/);
  });
});
