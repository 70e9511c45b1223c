/**
 * Vitest global setup of the integration suite: reuses the services of a live
 * `npm run services:up` (run id `dev`), otherwise starts its own set and stops it afterwards.
 * Tests read the endpoints with `inject('services')`.
 */
import type { TestProject } from 'vitest/node';
import { isRunAlive, readRuns, startServices, stopRun, type ServiceEndpoints } from './services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceEndpoints;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const dev = readRuns().find((r) => r.id === 'dev' && isRunAlive(r));
  if (dev) {
    project.provide('services', dev.endpoints);
    return undefined;
  }
  const run = await startServices(`vitest-${process.pid}`);
  // A run killed by a signal still takes its services down.
  const onSignal = (signal: NodeJS.Signals) =>
    void stopRun(run, 1000).finally(() => process.kill(process.pid, signal));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  project.provide('services', run.endpoints);
  return async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopRun(run);
  };
}
