/**
 * TCP connection attempts made from inside a running pod, for the NetworkPolicy checks of the
 * kind end-to-end run: `kubectl exec` runs a short Node script in the pod's container (runner
 * and gateway images both carry `node`), so the attempt leaves from the pod's own network
 * namespace and is subject to whatever policy selects that pod.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** How one connection attempt ended, as the pod saw it. */
export type ConnectionOutcome =
  /** The TCP handshake completed. */
  | 'connected'
  /** The destination answered with a reset: reached, but nothing listens on that port. */
  | 'refused'
  /** No answer within the probe timeout: the packets were dropped on the way. */
  | 'timeout'
  /** The name did not resolve. */
  | 'no-dns'
  /** Any other socket error (its errno code is reported beside it). */
  | 'error';

export interface ConnectionResult {
  /** `host:port` as given. */
  target: string;
  outcome: ConnectionOutcome;
  /** errno code of an `error` / `refused` / `no-dns` outcome. */
  code?: string;
}

/** Where the probe runs: a container of a running pod. */
export interface ProbePod {
  namespace: string;
  pod: string;
  container: string;
}

/** At most this many targets per probe run (one exec, one Node process). */
export const MAX_TARGETS = 16;

/** Bound of one `kubectl exec` (Node start-up plus the slowest attempt, with room to spare). */
const EXEC_TIMEOUT_MS = 60_000;

/** A probe run prints one JSON line per target; more output than this is a broken probe. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * The script `node -e` runs in the pod: argv = [timeoutMs, ...targets]. Plain JavaScript that
 * needs only Node built-ins (the images have no test dependencies).
 */
const PROBE_SCRIPT = `
const net = process.getBuiltinModule('node:net');
const [timeoutArg, ...targets] = process.argv.slice(1);
const timeoutMs = Number(timeoutArg);
const attempt = (target) => new Promise((resolve) => {
  const colon = target.lastIndexOf(':');
  const socket = net.connect({ host: target.slice(0, colon), port: Number(target.slice(colon + 1)) });
  let settled = false;
  const settle = (outcome, code) => {
    if (settled) return;
    settled = true;
    socket.destroy();
    resolve(code ? { target, outcome, code } : { target, outcome });
  };
  const timer = setTimeout(() => settle('timeout'), timeoutMs);
  socket.once('connect', () => { clearTimeout(timer); settle('connected'); });
  socket.once('error', (err) => {
    clearTimeout(timer);
    const code = String(err.code ?? err.message);
    if (code === 'ECONNREFUSED') settle('refused', code);
    else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') settle('no-dns', code);
    else settle('error', code);
  });
});
Promise.all(targets.map(attempt)).then((results) => {
  for (const r of results) process.stdout.write(JSON.stringify(r) + '\\n');
});
`;

/**
 * Attempts a TCP connection from `from` to each `host:port` target, all at once, each bounded by
 * `timeoutMs`. Resolves with one result per target, in the order given.
 * @throws Error when kubectl fails (pod gone, no exec permission) or the probe's output is not
 *   one result per target.
 */
export async function probeConnections(
  from: ProbePod,
  targets: readonly string[],
  timeoutMs: number,
): Promise<ConnectionResult[]> {
  if (targets.length === 0 || targets.length > MAX_TARGETS) {
    throw new RangeError(`a probe takes 1 to ${MAX_TARGETS} targets, got ${targets.length}`);
  }
  for (const t of targets) {
    if (!/^[A-Za-z0-9.:[\]-]+:\d{1,5}$/.test(t)) throw new RangeError(`not a host:port target: ${t}`);
  }
  const { stdout } = await promisify(execFile)(
    'kubectl',
    [
      ...['-n', from.namespace, 'exec', from.pod, '-c', from.container, '--'],
      ...['node', '-e', PROBE_SCRIPT, String(timeoutMs), ...targets],
    ],
    { timeout: EXEC_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES },
  );
  const results = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ConnectionResult);
  if (results.map((r) => r.target).join(' ') !== targets.join(' ')) {
    throw new Error(`probe in ${from.namespace}/${from.pod} answered ${stdout.slice(0, 500)}`);
  }
  return results;
}
