// With an egress key, the controller mints each run's egress token: for the Execution's tenant
// and id, valid past its deadline, and carried by the run it sends; without one, runs carry none.
import { describe, expect, it } from 'vitest';
import { manifestOf, patchRecord, statusOf } from '../../../src/cluster/execution-resource.ts';
import { EgressTokenKey } from '../../../src/cluster/egress-token.ts';
import {
  ExecutionReconciler,
  type Dispatcher,
} from '../../../src/controller/execution/execution-reconciler.ts';
import type { ExecutionRecord, RunRequest } from '../../../src/core/index.ts';
import { defaultedPool } from '../runner-pool/fixtures.ts';

const RECORD: ExecutionRecord = {
  id: 'e1',
  status: 'queued',
  code: '1',
  language: 'javascript',
  limits: { heapMemoryMaxMb: 8, timeoutSeconds: 10 },
  namespace: 'tenant-a',
  createdAt: '2026-01-01T00:00:00.000Z',
};
const NOW = new Date('2026-01-01T00:00:01.000Z');

/** The run request the reconciler sends for RECORD. */
async function sent(egressKey?: EgressTokenKey): Promise<RunRequest> {
  const { metadata, spec } = manifestOf(RECORD);
  const execution = {
    metadata,
    spec: { runnerPool: 'default', ...spec },
    status: statusOf(RECORD, undefined, 1, 'T0'),
  };
  const request = Promise.withResolvers<RunRequest>();
  const dispatcher: Dispatcher = {
    run: async (req, _onOutput, _signal, hooks = {}) => {
      await hooks.assigned?.('default-a1');
      request.resolve(req);
      return {
        status: 'completed',
        result: '1',
        effectiveHeapMb: 8,
        durationMs: 1,
        outputBytes: 0,
        outputTruncated: false,
      };
    },
    adopt: () => Promise.reject(new Error('nothing is adopted here')),
  };
  const reconciler = new ExecutionReconciler({
    executions: { get: () => execution as never },
    runnerPools: { get: () => defaultedPool() },
    poolNamespace: 'mcp',
    store: { transition: async (_ns, _id, _from, patch) => patchRecord(RECORD, patch) },
    deleteExecution: async () => {},
    pools: { get: () => dispatcher },
    now: () => NOW,
    ...(egressKey && { egressKey }),
  });
  await reconciler.reconcile('tenant-a/e1');
  return request.promise;
}

describe('egress tokens minted by the controller', () => {
  it('go with each run, for its tenant and execution, valid past its deadline', async () => {
    const key = new EgressTokenKey('controller-and-gateway-shared-key-0123');
    const req = await sent(key);
    const verified = key.verify(req.egressToken!, NOW.getTime());
    expect(verified).toMatchObject({ claims: { namespace: 'tenant-a', executionId: 'tenant-a/e1' } });
    const { expiresAt } = (verified as { claims: { expiresAt: number } }).claims;
    expect(expiresAt).toBeGreaterThan(NOW.getTime() + 10_000);
  });

  it('are not minted without a key', async () => {
    expect(await sent()).not.toHaveProperty('egressToken');
  });
});
