/**
 * One `opa run --server` child process that serves the local `.rego` policies of the embedded
 * server on 127.0.0.1. Started (and checked: OPA refuses a policy that does not compile, and that
 * refusal becomes a start-up error naming the file) before any runner; restarted with backoff on
 * the same port when it dies while serving, so the URL given to the runners stays valid — while
 * it is down, decisions fail as unavailable; stopped with SIGTERM, then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { Mcpv8Error } from '../core/index.ts';
import { freePort } from './free-port.ts';

export interface ManagedOpaOptions {
  /** The `opa` binary: a path, or a name looked up on PATH. */
  binary: string;
  /** Absolute paths of the `.rego` files to load, each as one policy. */
  files: readonly string[];
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** How long OPA may take to load the policies and answer /health; default 15 s. */
  startTimeoutMs?: number;
  /** How long a stop waits after SIGTERM before SIGKILL; default 3 s. */
  stopGraceMs?: number;
  /** First and longest wait before restarting an OPA that died; default 250 ms and 10 s. */
  restartDelayMs?: { min: number; max: number };
}

/** OPA's output kept for error messages: its last few KiB. */
const OUTPUT_TAIL_CHARS = 8192;
/** An OPA that served this long before dying restarts without the accumulated backoff. */
const STABLE_MS = 30_000;
const PORT_ATTEMPTS = 3;

interface Launched {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
  spawnError: () => NodeJS.ErrnoException | undefined;
}

type Options = Required<Omit<ManagedOpaOptions, 'log'>> & Pick<ManagedOpaOptions, 'log'>;

/** A running managed OPA. Create with {@link ManagedOpa.start}. */
export class ManagedOpa {
  readonly #opts: Options;
  readonly #port: number;
  #current: Launched;
  #healthySince = Date.now();
  #restartDelay: number;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly #killOnExit = (): void => void this.#current.child.kill('SIGKILL');

  private constructor(opts: Options, port: number, launched: Launched) {
    this.#opts = opts;
    this.#port = port;
    this.#current = launched;
    this.#restartDelay = opts.restartDelayMs.min;
    this.#watch(launched);
    // A server that exits without stopping us (process.exit on a fatal error) must not leave
    // an orphan OPA behind; kill() is synchronous, so it works in an 'exit' handler.
    process.on('exit', this.#killOnExit);
  }

  /**
   * Starts OPA with the files and waits until it answers /health.
   * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID when the binary cannot be run or OPA refuses a
   *   policy (the message carries OPA's, which names the file); MCPV8_ERR_SERVER_INTERNAL when
   *   OPA does not become healthy in time.
   */
  static async start(options: ManagedOpaOptions): Promise<ManagedOpa> {
    const opts: Options = {
      startTimeoutMs: 15_000,
      stopGraceMs: 3000,
      restartDelayMs: { min: 250, max: 10_000 },
      ...options,
    };
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const launched = launch(opts.binary, opts.files, port);
      const failure = await untilHealthy(launched, port, opts.startTimeoutMs);
      if (failure === undefined) return new ManagedOpa(opts, port, launched);
      await kill(launched, opts.stopGraceMs);
      // Another process took the port between our probe and OPA's bind: try another one.
      if (/address already in use/i.test(launched.output()) && attempt < PORT_ATTEMPTS) continue;
      throw startError(opts, launched, failure);
    }
  }

  /** Base URL of the OPA, e.g. `http://127.0.0.1:41234`; unchanged across restarts. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Process id of the current OPA process. */
  get pid(): number | undefined {
    return this.#current.child.pid;
  }

  /** Stops OPA (SIGTERM, then SIGKILL after the grace period) and any pending restart. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    await kill(this.#current, this.#opts.stopGraceMs);
    process.off('exit', this.#killOnExit);
  }

  #watch(launched: Launched): void {
    void launched.exited.then(() => {
      if (this.#stopping || launched !== this.#current) return;
      const { exitCode, signalCode } = launched.child;
      if (Date.now() - this.#healthySince >= STABLE_MS) this.#restartDelay = this.#opts.restartDelayMs.min;
      this.#opts.log?.error(
        { exitCode, signalCode, output: lastLines(launched.output()), restartInMs: this.#restartDelay },
        'the managed OPA exited; policy decisions fail until it is back',
      );
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(delay * 2, this.#opts.restartDelayMs.max);
    this.#restartTimer = setTimeout(() => void this.#restart(), delay);
    this.#restartTimer.unref();
  }

  async #restart(): Promise<void> {
    if (this.#stopping) return;
    const launched = launch(this.#opts.binary, this.#opts.files, this.#port);
    this.#current = launched;
    const failure = await untilHealthy(launched, this.#port, this.#opts.startTimeoutMs);
    if (this.#stopping) return;
    if (failure === undefined) {
      this.#healthySince = Date.now();
      this.#watch(launched);
      this.#opts.log?.info({ url: this.url }, 'the managed OPA is serving again');
      return;
    }
    await kill(launched, this.#opts.stopGraceMs);
    this.#opts.log?.error(
      { failure, output: lastLines(launched.output()), retryInMs: this.#restartDelay },
      'the managed OPA could not be restarted',
    );
    if (!this.#stopping) this.#scheduleRestart();
  }
}

function launch(binary: string, files: readonly string[], port: number): Launched {
  let output = '';
  let spawnError: NodeJS.ErrnoException | undefined;
  const child = spawn(
    binary,
    [
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${port}`,
      // The successor of --disable-telemetry (deprecated in OPA 1.x): no calls to GitHub.
      '--skip-version-check',
      '--log-level',
      'error',
      // Runners keep connections open; a long grace period would only delay a stop.
      '--shutdown-grace-period',
      '1',
      ...files,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // OPA needs nothing of ours; the server's environment may hold secrets (AWS_* …).
      env: pick(process.env, ['PATH', 'HOME', 'TMPDIR', 'TZ']),
    },
  );
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      resolve();
    });
  });
  return { child, exited, output: () => output, spawnError: () => spawnError };
}

/** Undefined once OPA answers /health; otherwise why it did not. */
async function untilHealthy(
  launched: Launched,
  port: number,
  timeoutMs: number,
): Promise<string | undefined> {
  let exited = false;
  void launched.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    if (exited) return 'exited';
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return undefined;
    } catch {
      // not listening yet
    }
    if (exited) return 'exited';
    if (Date.now() > deadline) return `did not answer /health within ${timeoutMs} ms`;
    await new Promise((r) => setTimeout(r, delay));
  }
}

function startError(opts: ManagedOpaOptions, launched: Launched, failure: string): Mcpv8Error {
  const spawnError = launched.spawnError();
  if (spawnError !== undefined) {
    const why =
      spawnError.code === 'ENOENT'
        ? `the opa binary "${opts.binary}" was not found`
        : `the opa binary "${opts.binary}" cannot be run (${spawnError.code ?? spawnError.message})`;
    return new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `${why}; local .rego policies need OPA: install it or point --opa-binary at it`,
    ]);
  }
  const output = lastLines(launched.output());
  if (failure === 'exited') {
    // OPA's own message names the file and the line; list the files only when it does not.
    const named = opts.files.some((f) => output.includes(f));
    return new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `OPA did not accept the local policies${named ? '' : ` (${opts.files.join(', ')})`}: ${output || `exit code ${launched.child.exitCode}`}`,
    ]);
  }
  return new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [`the managed OPA ${failure}: ${output}`]);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
async function kill(launched: Launched, graceMs: number): Promise<void> {
  const { child } = launched;
  if (child.exitCode !== null || child.signalCode !== null || launched.spawnError() !== undefined) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await launched.exited;
  clearTimeout(timer);
}

/** OPA's output for a message: its last 2000 characters. */
function lastLines(output: string): string {
  const text = output.trim();
  return text.length > 2000 ? `…${text.slice(-2000)}` : text;
}

function pick(env: NodeJS.ProcessEnv, keys: readonly string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(keys.filter((k) => env[k] !== undefined).map((k) => [k, env[k]]));
}
