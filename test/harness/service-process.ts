/**
 * A real service binary run for tests: its own process group (so a stop takes its children
 * too), output to a log file (so a failed start can be explained), a readiness probe with a
 * deadline, and a stop that escalates from SIGTERM to SIGKILL.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceProcessOptions {
  /** Short name used in errors and log file names, e.g. `nats`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** File that receives stdout and stderr. */
  logFile: string;
}

/** What is recorded about a running service so another process can stop it. */
export interface ServiceProcessRecord {
  name: string;
  pid: number;
  logFile: string;
}

export class ServiceProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(opts: ServiceProcessOptions, pid: number, exited: Promise<number | null>) {
    this.name = opts.name;
    this.pid = pid;
    this.logFile = opts.logFile;
    this.#exited = exited.then((code) => (this.#exitCode = code));
  }

  /** Starts the process; throws when the binary cannot be spawned at all. */
  static start(opts: ServiceProcessOptions): ServiceProcess {
    const fd = openSync(opts.logFile, 'a');
    try {
      const child = spawn(opts.command, opts.args, {
        cwd: opts.cwd,
        // The marker lets CI find any service process a run failed to stop.
        env: { ...process.env, ...opts.env, MCPV8_TEST_SERVICE: opts.name },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      if (child.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
      const exited = new Promise<number | null>((resolve) => {
        child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
        child.once('error', () => resolve(127));
      });
      child.unref();
      return new ServiceProcess(opts, child.pid, exited);
    } finally {
      closeSync(fd);
    }
  }

  /** True while the process has not exited. */
  get running(): boolean {
    return this.#exitCode === undefined;
  }

  get record(): ServiceProcessRecord {
    return { name: this.name, pid: this.pid, logFile: this.logFile };
  }

  /**
   * Polls `probe` until it returns true. Fails fast when the process exits, and with the tail of
   * its log when the deadline passes, so a broken service explains itself.
   */
  async waitReady(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      if (!this.running) throw new Error(`${this.name} exited during start-up:\n${this.logTail()}`);
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) {
        throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.logTail()}`);
      }
      await sleep(delay);
    }
  }

  /** Stops the whole process group: SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    await stopGroup(this.pid, graceMs);
    if (this.running) await Promise.race([this.#exited, sleep(1000)]);
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** Signals a process group; a group that is already gone is not an error. */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * SIGTERM to the group, SIGKILL to whatever is left after `graceMs`, then waits (briefly) until
 * no member remains: the leader can exit before its children do.
 */
export async function stopGroup(pid: number, graceMs: number): Promise<void> {
  if (!killGroup(pid, 'SIGTERM')) return;
  const until = async (deadline: number) => {
    while (isGroupAlive(pid) && Date.now() < deadline) await sleep(20);
  };
  await until(Date.now() + graceMs);
  if (isGroupAlive(pid)) {
    killGroup(pid, 'SIGKILL');
    await until(Date.now() + 2000);
  }
}

/** True when a process group with this leader still has members. */
export function isGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
