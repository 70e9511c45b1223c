/**
 * The controller runtime, independent of what is reconciled: work queue, controller loop,
 * informers, Lease leader election and the manager that runs them (the pieces client-go and
 * controller-runtime give Go operators and client-node lacks).
 */
export * from './rate-limiter.ts';
export * from './workqueue.ts';
export * from './reconciler.ts';
export * from './keys.ts';
export * from './controller-metrics.ts';
export * from './controller.ts';
export * from './informer-sources.ts';
export * from './informer.ts';
export * from './leader-election.ts';
export * from './health-server.ts';
export * from './manager.ts';
export * from './signals.ts';
