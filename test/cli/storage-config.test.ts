// The storage flags (and their MCP_V8_* equivalents) → Config['storage'] → the HeapStore built.
import { describe, expect, it } from 'vitest';
import { helpText, loadConfig, type Config } from '../../src/cli/config.ts';
import { openHeapStore } from '../../src/cli/heap-storage.ts';
import { s3Client } from '../../src/cluster/s3-client.ts';
import { CachedHeapStore } from '../../src/cluster/cached-heap-store.ts';
import { S3HeapStore } from '../../src/cluster/heap-store.ts';
import { DirHeapStore } from '../../src/local/heap-store.ts';
import { configProblem } from './config-problem.ts';

const storage = (argv: string[], env: NodeJS.ProcessEnv = {}) => (loadConfig(argv, env) as Config).storage;
const problem = configProblem;

describe('storage flags', () => {
  it('defaults to the /tmp/mcp-v8-heaps directory', () => {
    expect(storage([])).toEqual({ kind: 'directory', path: '/tmp/mcp-v8-heaps' });
    expect(storage(['--stateless'])).toEqual({ kind: 'stateless' });
  });

  it('takes every S3 flag', () => {
    expect(
      storage([
        '--s3-bucket',
        'heaps',
        '--s3-prefix',
        'prod/heaps/',
        '--s3-endpoint',
        'http://127.0.0.1:9000',
        '--s3-region',
        'eu-west-3',
        '--s3-force-path-style',
        '--cache-dir',
        '/var/cache/mcp-v8',
        '--cache-max-mb',
        '64',
      ]),
    ).toEqual({
      kind: 's3',
      bucket: 'heaps',
      prefix: 'prod/heaps/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-3',
      forcePathStyle: true,
      cache: { dir: '/var/cache/mcp-v8', maxBytes: 64 * 1024 * 1024 },
    });
  });

  it('defaults: no prefix, AWS S3, virtual-host style, a 1024 MiB cache, region from the AWS environment', () => {
    expect(storage(['--s3-bucket', 'b', '--cache-dir', '/c'])).toEqual({
      kind: 's3',
      bucket: 'b',
      prefix: '',
      region: 'us-east-1',
      forcePathStyle: false,
      cache: { dir: '/c', maxBytes: 1024 * 1024 * 1024 },
    });
    expect(storage(['--s3-bucket', 'b'], { AWS_DEFAULT_REGION: 'ap-south-1' })).toMatchObject({
      region: 'ap-south-1',
    });
    expect(
      storage(['--s3-bucket', 'b'], { AWS_REGION: 'eu-north-1', AWS_DEFAULT_REGION: 'ap-south-1' }),
    ).toMatchObject({ region: 'eu-north-1' });
    expect(storage(['--s3-bucket', 'b', '--s3-region', 'auto'], { AWS_REGION: 'eu-north-1' })).toMatchObject({
      region: 'auto',
    });
  });

  it('takes the MCP_V8_* equivalents, flags winning', () => {
    const env = {
      MCP_V8_S3_BUCKET: 'env-bucket',
      MCP_V8_S3_PREFIX: 'env/',
      MCP_V8_S3_ENDPOINT: 'https://s3.example.test',
      MCP_V8_S3_REGION: 'env-region',
      MCP_V8_S3_FORCE_PATH_STYLE: 'true',
      MCP_V8_CACHE_DIR: '/env-cache',
      MCP_V8_CACHE_MAX_MB: '2',
    };
    expect(storage([], env)).toEqual({
      kind: 's3',
      bucket: 'env-bucket',
      prefix: 'env/',
      endpoint: 'https://s3.example.test',
      region: 'env-region',
      forcePathStyle: true,
      cache: { dir: '/env-cache', maxBytes: 2 * 1024 * 1024 },
    });
    expect(storage(['--s3-prefix', 'flag/', '--cache-max-mb', '3'], env)).toMatchObject({
      prefix: 'flag/',
      cache: { maxBytes: 3 * 1024 * 1024 },
    });
    expect(storage([], { ...env, MCP_V8_S3_FORCE_PATH_STYLE: '0' })).toMatchObject({ forcePathStyle: false });
  });

  it.each([
    ['--s3-prefix', ['--s3-prefix', 'p/']],
    ['--s3-endpoint', ['--s3-endpoint', 'http://localhost:9000']],
    ['--s3-region', ['--s3-region', 'us-east-1']],
    ['--s3-force-path-style', ['--s3-force-path-style']],
    ['--cache-dir', ['--cache-dir', '/c']],
  ])('refuses %s without --s3-bucket', (flag, argv) => {
    expect(problem(argv)).toContain(`${flag} needs --s3-bucket`);
  });

  it('refuses --cache-max-mb without --cache-dir', () => {
    expect(problem(['--s3-bucket', 'b', '--cache-max-mb', '10'])).toContain(
      '--cache-max-mb needs --cache-dir',
    );
  });

  it.each([
    [['--cache-max-mb', '0'], '--cache-max-mb must be an integer from 1 to 1048576, got "0"'],
    [['--cache-max-mb', '1.5'], '--cache-max-mb must be an integer from 1 to 1048576, got "1.5"'],
    [['--cache-max-mb', 'lots'], '--cache-max-mb must be an integer from 1 to 1048576, got "lots"'],
    [['--s3-endpoint', 'not a url'], '--s3-endpoint must be an http(s) URL, got "not a url"'],
    [
      ['--s3-endpoint', 'ftp://files.example'],
      '--s3-endpoint must be an http(s) URL, got "ftp://files.example"',
    ],
    [['--s3-region', 'us east'], '--s3-region must be a region name like us-east-1, got "us east"'],
  ])('reports %j as invalid', (argv, message) => {
    expect(problem(['--s3-bucket', 'b', '--cache-dir', '/c', ...argv])).toContain(message);
  });

  it('refuses a bad bucket name', () => {
    expect(problem(['--s3-bucket', 'a/b'])).toContain('--s3-bucket must be a bucket name');
  });

  it('takes no credentials: not in the endpoint (never echoed), and no flag for them', () => {
    const msg = problem(['--s3-bucket', 'b', '--s3-endpoint', 'https://AKIAXAMPLE:s3cr3tValue@s3.example']);
    expect(msg).toContain('--s3-endpoint must not contain credentials');
    expect(msg).not.toMatch(/s3cr3tValue|AKIAXAMPLE/);
    expect(problem(['--s3-bucket', 'b', '--s3-secret-access-key', 'x'])).toContain('Unknown option');
  });

  it('reports every storage problem together', () => {
    const msg = problem(['--stateless', '--directory-path', '/d', '--s3-prefix', 'p', '--cache-max-mb', '0']);
    expect(msg).toContain('only one storage option may be given, got --stateless and --directory-path');
    expect(msg).toContain('--s3-prefix needs --s3-bucket');
    expect(msg).toContain('--cache-max-mb needs --cache-dir');
    expect(msg).toContain('--cache-max-mb must be an integer');
  });

  it('lists the storage flags in --help', () => {
    for (const flag of [
      '--s3-prefix',
      '--s3-endpoint',
      '--s3-region',
      '--s3-force-path-style',
      '--cache-max-mb',
    ])
      expect(helpText()).toContain(flag);
  });
});

describe('openHeapStore', () => {
  it('builds the store the flags ask for', () => {
    expect(openHeapStore(storage(['--stateless']))).toBeUndefined();
    expect(openHeapStore(storage(['--directory-path', '/tmp/x']))).toBeInstanceOf(DirHeapStore);
    expect(openHeapStore(storage(['--s3-bucket', 'b']))).toBeInstanceOf(S3HeapStore);
    expect(openHeapStore(storage(['--s3-bucket', 'b', '--cache-dir', '/tmp/c']))).toBeInstanceOf(
      CachedHeapStore,
    );
  });

  it('configures the S3 client from the flags', async () => {
    const s = storage([
      '--s3-bucket',
      'b',
      '--s3-endpoint',
      'http://127.0.0.1:9000',
      '--s3-region',
      'eu-west-3',
      '--s3-force-path-style',
    ]);
    if (s.kind !== 's3') throw new Error('expected s3');
    const client = s3Client(s);
    expect(client.config.forcePathStyle).toBe(true);
    expect(await client.config.region()).toBe('eu-west-3');
    const endpoint = await client.config.endpoint!();
    expect(`${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`).toBe('http://127.0.0.1:9000');
    client.destroy();
  });
});

describe('live heap flags', () => {
  it('default to 64 isolates per runner kept 900 s, and are bounded', () => {
    const config = loadConfig([], {}) as Config;
    expect([config.liveHeaps, config.liveHeapIdleSecs]).toEqual([64, 900]);
    expect((loadConfig(['--live-heaps', '0'], {}) as Config).liveHeaps).toBe(0);
    expect((loadConfig([], { MCP_V8_LIVE_HEAP_IDLE_SECS: '60' }) as Config).liveHeapIdleSecs).toBe(60);
    expect(configProblem(['--live-heaps', '1000'])).toMatch(/--live-heaps must be an integer from 0 to 256/);
  });
});

describe('isolate reuse flag', () => {
  it('defaults to 100 stateless cells per isolate, reads the environment, and is bounded', () => {
    expect((loadConfig([], {}) as Config).cellsPerIsolate).toBe(100);
    expect((loadConfig(['--cells-per-isolate', '1'], {}) as Config).cellsPerIsolate).toBe(1);
    expect((loadConfig([], { MCP_V8_CELLS_PER_ISOLATE: '500' }) as Config).cellsPerIsolate).toBe(500);
    expect(configProblem(['--cells-per-isolate', '0'])).toMatch(
      /--cells-per-isolate must be an integer from 1 to 10000/,
    );
  });
});
