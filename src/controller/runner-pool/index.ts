/**
 * The RunnerPool side of the controller: runner pods built from a pool, the reconciler that
 * keeps each pool at its replicas, and the settings it builds pods with.
 */
export * from './runner-pod.ts';
export * from './runner-pod-resources.ts';
export * from './runner-pod-end.ts';
export * from './runner-pod-settings.ts';
export * from './expectations.ts';
export * from './runner-pool-status.ts';
export * from './runner-pool-api.ts';
export * from './runner-pool-reconciler.ts';
export * from './start-backoff.ts';
export * from './template-rollout.ts';
