/**
 * A benign client running beside the hostile cases, with its own bearer token: a stateful session
 * counting up (`x = (globalThis.x ?? 0) + 1`, each cell resuming the heap the previous one
 * committed, so every result proves the session's state survived) and stateless `1+1` cells.
 * Every cell that does not end as expected is recorded as a failure with its observed end state.
 */
import { describeEnd, execAndWait, type ExecutionView } from './rest-calls.ts';
import type { HostileServer } from './hostile-server.ts';

/** A victim cell may wait in the queue behind hostile ones; it gets a generous timeout of its own. */
const VICTIM_TIMEOUT_SECS = 20;
const VICTIM_WAIT_SECS = 90;
/** Pause between a loop's cells, so the victim does not crowd out the cases. */
const PACE_MS = 50;

export interface VictimFailure {
  at: number;
  loop: 'session' | 'stateless';
  what: string;
}

export class Victim {
  readonly #server: HostileServer;
  readonly failures: VictimFailure[] = [];
  readonly done = { session: 0, stateless: 0 };
  #stopped = false;
  #loops: Promise<void>[] = [];
  #waiters: Array<() => void> = [];

  constructor(server: HostileServer) {
    this.#server = server;
  }

  start(): void {
    if (!this.#server.stateless) this.#loops.push(this.#sessionLoop());
    this.#loops.push(this.#statelessLoop());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  /** Failures recorded at or after `since` (epoch ms). */
  failuresSince(since: number): VictimFailure[] {
    return this.failures.filter((f) => f.at >= since);
  }

  /**
   * Resolves once every loop has completed two more cells than now (so at least one cell started
   * after this call succeeded); rejects after `timeoutMs`.
   */
  async progressed(timeoutMs = 60_000): Promise<void> {
    const target = { session: this.done.session + 2, stateless: this.done.stateless + 2 };
    const reached = () =>
      (this.#server.stateless || this.done.session >= target.session) &&
      this.done.stateless >= target.stateless;
    const deadline = Date.now() + timeoutMs;
    while (!reached()) {
      if (Date.now() > deadline) {
        throw new Error(
          `the victim made no progress in ${timeoutMs} ms (done ${JSON.stringify(this.done)}; ` +
            `last failures ${JSON.stringify(this.failures.slice(-3))})`,
        );
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 1000).unref();
      });
    }
  }

  #tick(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #run(loop: VictimFailure['loop'], body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      this.failures.push({ at: Date.now(), loop, what: err instanceof Error ? err.message : String(err) });
    }
    this.#tick();
    await new Promise((r) => setTimeout(r, PACE_MS));
  }

  async #sessionLoop(): Promise<void> {
    let count = 0;
    let heap: string | undefined;
    while (!this.#stopped) {
      await this.#run('session', async () => {
        const v = await this.#exec({
          code: 'x = (globalThis.x ?? 0) + 1',
          session: 'victim',
          ...(heap && { heap }),
        });
        if (v.status !== 'completed' || v.result !== String(count + 1) || !v.heap) {
          throw new Error(`session cell ${count + 1}: ${describeEnd(v)}`);
        }
        count++;
        heap = v.heap;
        this.done.session++;
      });
    }
  }

  async #statelessLoop(): Promise<void> {
    while (!this.#stopped) {
      await this.#run('stateless', async () => {
        const v = await this.#exec({ code: '1+1' });
        if (v.status !== 'completed' || v.result !== '2')
          throw new Error(`stateless cell: ${describeEnd(v)}`);
        this.done.stateless++;
      });
    }
  }

  #exec(args: { code: string; session?: string; heap?: string }): Promise<ExecutionView> {
    return execAndWait(
      this.#server,
      { ...args, execution_timeout_secs: VICTIM_TIMEOUT_SECS },
      { token: this.#server.tokens.victim, waitSecs: VICTIM_WAIT_SECS },
    );
  }
}
