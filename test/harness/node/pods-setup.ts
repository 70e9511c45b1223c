/**
 * Vitest global setup of the real-pod suite (`npm run test:pods`): a real node and the services
 * it needs (real-node-env.ts), stopped and removed afterwards. Tests read `inject('services')`
 * and `inject('realNode')`.
 */
import type { TestProject } from 'vitest/node';
import type { ServiceEndpoints } from '../services.ts';
import { startRealNodeEnv, type RealNodeInfo } from './real-node-env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceEndpoints;
    realNode: RealNodeInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = await startRealNodeEnv(`pods-${process.pid}`);
  // A run killed by a signal still takes its node down.
  const onSignal = (signal: NodeJS.Signals) =>
    void env.stop().finally(() => process.kill(process.pid, signal));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  project.provide('services', env.run.endpoints);
  project.provide('realNode', env.node);
  return async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await env.stop();
  };
}
