// A RunnerPool as the API server returns it with every CRD default applied, and pod settings.
import type { RunnerPool } from '../../../src/api/v1alpha1/index.ts';
import type { RunnerPodSettings } from '../../../src/controller/runner-pool/index.ts';

export function defaultedPool(overrides: Partial<RunnerPool['spec']> = {}, name = 'default'): RunnerPool {
  return {
    apiVersion: 'mcpv8.dev/v1alpha1',
    kind: 'RunnerPool',
    metadata: { name, namespace: 'mcp', uid: 'uid-1', generation: 1, resourceVersion: '10' },
    spec: {
      replicas: 2,
      executionsPerPod: 1,
      isolate: { defaultHeapMb: 8, maxHeapMb: 64, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 300 },
      ...overrides,
    },
  };
}

export const settings: RunnerPodSettings = {
  image: 'ghcr.io/example/mcp-v8-runner:1.0',
  serviceAccount: 'mcp-v8-runner',
  podLabels: { 'app.kubernetes.io/name': 'mcp-v8', 'app.kubernetes.io/component': 'runner' },
  podEnv: [
    { name: 'MCP_V8_NATS_URL', value: 'nats://nats:4222' },
    { name: 'MCP_V8_NATS_TOKEN', valueFrom: { secretKeyRef: { name: 'nats', key: 'token' } } },
  ],
};
