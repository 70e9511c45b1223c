import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { isMcpv8Error, type Mcpv8Error } from '../../src/core/index.ts';
import { apiFailure } from '../../src/cluster/execution-api.ts';

const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

function failure(code: number, body: string, headers: Record<string, string> = {}): Mcpv8Error {
  const err = apiFailure(new ApiException(code, 'failed', body, headers), 'create', undefined);
  if (!isMcpv8Error(err)) throw new Error('not an Mcpv8Error');
  return err;
}

describe('Kubernetes API failures as the caller sees them', () => {
  it('a throttled API server (priority and fairness 429) is a retryable busy cluster, with its Retry-After', () => {
    const e = failure(429, 'Too many requests, please try again later.\n', { 'retry-after': '12' });
    expect(e.code).toBe('MCPV8_ERR_CLUSTER_BUSY');
    expect(e.statusCode).toBe(503);
    expect(e.retryable).toBe(true);
    expect(e.details).toMatchObject({ status: 429, retryAfterSeconds: 12 });
  });

  it('an API server that is unavailable or timed out is a busy cluster too', () => {
    expect(failure(503, status(503, 'ServiceUnavailable', 'etcd is down')).code).toBe(
      'MCPV8_ERR_CLUSTER_BUSY',
    );
    expect(failure(504, status(504, 'Timeout', 'request timed out')).code).toBe('MCPV8_ERR_CLUSTER_BUSY');
  });

  it('an invalid object is the caller’s input, and anything else an internal error', () => {
    expect(failure(422, status(422, 'Invalid', 'spec.code: Too long')).code).toBe('MCPV8_ERR_INPUT_INVALID');
    const internal = failure(500, status(500, 'InternalError', 'boom'));
    expect(internal.code).toBe('MCPV8_ERR_SERVER_INTERNAL');
    expect(internal.retryable).toBe(false);
  });
});
