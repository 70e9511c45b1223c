/**
 * Locates the service binaries by running the project's install scripts, which build each one
 * once per machine and answer from the cache afterwards (`KEY=/abs/path` lines on stdout).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const scriptsDir = fileURLToPath(new URL('../../scripts/services/', import.meta.url));

/** Every service the integration suite can start. */
export type ServiceName = 'nats' | 's3' | 'opa' | 'kube';

/** Runs `scripts/services/install-<name>.sh` and returns the `KEY=value` pairs it printed. */
export function installService(name: ServiceName | 'node'): Promise<Record<string, string>> {
  return runKeyValueScript(`${scriptsDir}install-${name}.sh`);
}

/** Runs a bash script of the project and returns the `KEY=value` lines of its stdout. */
export async function runKeyValueScript(file: string): Promise<Record<string, string>> {
  const name = file.split('/').pop();
  const { stdout } = await run('bash', [file], {
    maxBuffer: 16 * 1024 * 1024,
    // A cold build of the Kubernetes control plane takes ~15 min on 2 cores.
    timeout: 45 * 60 * 1000,
  }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`${name} failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  const vars: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

/** Like {@link installService} but insists on the named keys. */
export async function requireBinaries<K extends string>(
  name: ServiceName | 'node',
  keys: readonly K[],
): Promise<Record<K, string>> {
  const vars = await installService(name);
  const missing = keys.filter((k) => !vars[k]);
  if (missing.length > 0) throw new Error(`install-${name}.sh did not print ${missing.join(', ')}`);
  return vars;
}
