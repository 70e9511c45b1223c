/**
 * `npm run services:up|down|status`: start the integration services once and keep them running
 * between test runs (the integration suite reuses a live `dev` run), stop everything any run
 * left behind, or show what is running.
 */
import { parseArgs } from 'node:util';
import type { ServiceName } from './binaries.ts';
import { ALL_SERVICES, isRunAlive, readRuns, startServices, stopRun } from './services.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { only: { type: 'string', multiple: true } },
});
const command = positionals[0] ?? 'status';

switch (command) {
  case 'up': {
    const only = (values.only ?? ALL_SERVICES) as ServiceName[];
    const bad = only.filter((s) => !ALL_SERVICES.includes(s));
    if (bad.length > 0) fail(`unknown service ${bad.join(', ')}; known: ${ALL_SERVICES.join(', ')}`);
    const existing = readRuns().find((r) => r.id === 'dev');
    if (existing) await stopRun(existing);
    const run = await startServices('dev', only);
    console.log(JSON.stringify(run.endpoints, null, 2));
    break;
  }
  case 'down': {
    const runs = readRuns();
    await Promise.all(runs.map((r) => stopRun(r)));
    console.log(`stopped ${runs.length} run(s)`);
    break;
  }
  case 'status': {
    const runs = readRuns();
    if (runs.length === 0) console.log('no services running');
    for (const r of runs) {
      console.log(
        `${r.id}: ${isRunAlive(r) ? 'up' : 'DEGRADED'} ${r.processes.map((p) => `${p.name}(${p.pid})`).join(' ')}`,
      );
    }
    break;
  }
  default:
    fail(`unknown command ${command}; use up, down or status`);
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}
