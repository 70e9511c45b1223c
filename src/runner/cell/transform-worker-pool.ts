/**
 * Worker threads that run cell transforms and TypeScript stripping (transform-worker.ts) with
 * bounded memory and time. A worker has its own V8 heap and stack limits, so a transform that
 * exhausts them ends that worker, not the runner; a job that runs past its time is stopped by
 * terminating its worker; a worker whose job failed in any way other than a syntax error, or
 * that holds too much memory afterwards, is replaced. So no transform can break a later one.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TransformedCell } from './transform-cell.ts';
import type {
  TransformJob,
  TransformJobError,
  TransformReply,
  TransformRequest,
} from './transform-protocol.ts';

export type { TransformRequest } from './transform-protocol.ts';

export interface TransformWorkerLimits {
  /** V8 old-generation heap of one worker, MiB. */
  maxHeapMb: number;
  /** Stack of one worker, MiB. */
  stackMb: number;
  /** Longest a job may run (its execution's deadline may end it sooner), ms. */
  maxJobMs: number;
  /** Workers at once; further jobs wait their turn (FIFO). */
  maxWorkers: number;
  /** Idle workers kept ready, so a job rarely waits for a worker to start (≈ 50–300 ms). */
  maxIdleWorkers: number;
  /**
   * A worker holding more than this outside its V8 heap after a job is replaced: the
   * stripper's WebAssembly memory grows with the largest input it saw and never shrinks.
   */
  maxExternalBytes: number;
}

export const DEFAULT_TRANSFORM_WORKER_LIMITS: TransformWorkerLimits = {
  maxHeapMb: 128,
  stackMb: 4,
  maxJobMs: 10_000,
  maxWorkers: 2,
  maxIdleWorkers: 1,
  maxExternalBytes: 64 * 1024 * 1024,
};

/** Why a job produced nothing. */
export type TransformFailure =
  | Extract<TransformJobError, { kind: 'syntax' }>
  | {
      /**
       * out_of_memory: the worker's heap limit; timed_out: the job's deadline passed; too_long:
       * the job ran past `maxJobMs`; cancelled: the signal aborted; broken: the worker failed
       * otherwise (a trap in the stripper, a crash).
       */
      kind: 'out_of_memory' | 'timed_out' | 'too_long' | 'cancelled' | 'broken';
      /** What happened to the transform, as a clause: `it ran out of memory (256 MiB)`. */
      message: string;
    };

export type TransformResult<T> = { ok: true; value: T } | { ok: false; failure: TransformFailure };

export interface TransformRunOptions {
  /**
   * Epoch ms by which the job must be done, waiting for a worker included (Infinity: only
   * `maxJobMs` and the signal bound it).
   */
  deadline: number;
  signal?: AbortSignal;
}

/** Longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const ENTRY = new URL(`./transform-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

interface Slot {
  worker: Worker;
  /** Called with the worker's reply, or with a failure when the worker ends first. */
  settle?: (reply: TransformReply | TransformFailure) => void;
}

interface Waiter {
  /** Hands the waiter a worker, or nothing when the pool closed. */
  take: (slot: Slot | undefined) => void;
}

export class TransformWorkerPool {
  readonly #limits: TransformWorkerLimits;
  readonly #idle: Slot[] = [];
  readonly #all = new Set<Slot>();
  readonly #waiting: Waiter[] = [];
  #nextId = 0;
  #used = false;
  #closed = false;

  constructor(limits: Partial<TransformWorkerLimits> = {}) {
    this.#limits = { ...DEFAULT_TRANSFORM_WORKER_LIMITS, ...limits };
  }

  get limits(): Readonly<TransformWorkerLimits> {
    return this.#limits;
  }

  /** Starts the idle workers now rather than on the first job. */
  warm(): void {
    this.#used = true;
    this.#fill();
  }

  /** Runs `request` in a worker; never throws for what the job does. */
  async run(
    request: TransformRequest,
    opts: TransformRunOptions,
  ): Promise<TransformResult<TransformedCell | string>> {
    if (this.#closed) return fail('broken', 'its workers are shut down');
    this.#used = true;
    const slot = await this.#acquire(opts);
    if ('kind' in slot) return { ok: false, failure: slot };
    const result = await this.#exec(slot, request, opts);
    this.#fill();
    return result;
  }

  /** Terminates every worker; jobs still running fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiting.splice(0)) w.take(undefined);
    await Promise.all([...this.#all].map((slot) => this.#discard(slot)));
  }

  /** An idle worker, a new one while there is room, or the next one freed (FIFO). */
  #acquire(opts: TransformRunOptions): Promise<Slot | TransformFailure> {
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#all.size < this.#limits.maxWorkers) return Promise.resolve(this.#spawn());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        take: (slot) => {
          done();
          resolve(slot ?? { kind: 'broken', message: 'its workers are shut down' });
        },
      };
      const give = (failure: TransformFailure) => {
        done();
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        resolve(failure);
      };
      const timer = setTimeout(
        () => give({ kind: 'timed_out', message: 'the deadline passed while it waited for a worker' }),
        clampDelay(opts.deadline - Date.now()),
      );
      const onAbort = () => give({ kind: 'cancelled', message: 'it was cancelled' });
      const done = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #exec(
    slot: Slot,
    request: TransformRequest,
    opts: TransformRunOptions,
  ): Promise<TransformResult<TransformedCell | string>> {
    const id = ++this.#nextId;
    const left = opts.deadline - Date.now();
    const byDeadline = left <= this.#limits.maxJobMs;
    return new Promise((resolve) => {
      const finish = (result: TransformResult<TransformedCell | string>, keep: boolean) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        slot.settle = undefined;
        if (keep) this.#release(slot);
        else void this.#discard(slot);
        resolve(result);
      };
      slot.settle = (reply) => {
        if ('kind' in reply) return finish({ ok: false, failure: reply }, false);
        if (reply.id !== id) return;
        const healthy = reply.externalBytes <= this.#limits.maxExternalBytes;
        if (reply.ok) return finish({ ok: true, value: reply.value }, healthy);
        const failure: TransformFailure =
          reply.error.kind === 'syntax'
            ? reply.error
            : {
                kind: 'broken',
                message: `${firstLine(reply.error.message)} (is the source nested too deeply?)`,
              };
        finish({ ok: false, failure }, healthy && reply.error.kind === 'syntax');
      };
      const timer = setTimeout(
        () =>
          finish(
            byDeadline
              ? fail('timed_out', 'the deadline passed while it ran')
              : fail('too_long', `it took longer than ${this.#limits.maxJobMs} ms`),
            false,
          ),
        clampDelay(byDeadline ? left : this.#limits.maxJobMs),
      );
      const onAbort = () => finish(fail('cancelled', 'it was cancelled'), false);
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      slot.worker.ref();
      slot.worker.postMessage({ ...request, id } satisfies TransformJob);
    });
  }

  #spawn(): Slot {
    const { maxHeapMb, stackMb } = this.#limits;
    const worker = new Worker(ENTRY, {
      resourceLimits: {
        maxOldGenerationSizeMb: maxHeapMb,
        maxYoungGenerationSizeMb: Math.min(32, Math.max(1, maxHeapMb >> 3)),
        stackSizeMb: stackMb,
      },
      // Its warnings (the stripper is "experimental") are noise in the runner's log.
      stdout: true,
      stderr: true,
    });
    worker.stdout.resume();
    worker.stderr.resume();
    const slot: Slot = { worker };
    worker.on('message', (reply: TransformReply) => slot.settle?.(reply));
    worker.on('error', (err: Error & { code?: string }) => {
      const failure: TransformFailure =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? { kind: 'out_of_memory', message: `it ran out of memory (${maxHeapMb} MiB)` }
          : { kind: 'broken', message: 'its worker stopped' };
      slot.settle?.(failure);
    });
    worker.on('exit', () => {
      this.#forget(slot);
      slot.settle?.({ kind: 'broken', message: 'its worker stopped' });
    });
    worker.unref();
    this.#all.add(slot);
    return slot;
  }

  #release(slot: Slot): void {
    slot.worker.unref();
    const waiter = this.#waiting.shift();
    if (waiter) return waiter.take(slot);
    if (this.#closed || this.#idle.length >= this.#limits.maxIdleWorkers) return void this.#discard(slot);
    this.#idle.push(slot);
  }

  async #discard(slot: Slot): Promise<void> {
    this.#forget(slot);
    await slot.worker.terminate();
  }

  #forget(slot: Slot): void {
    this.#all.delete(slot);
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  /** Keeps `maxIdleWorkers` ready once the pool is in use, and hands new ones to waiters. */
  #fill(): void {
    if (this.#closed || !this.#used) return;
    while (this.#waiting.length > 0 && this.#all.size < this.#limits.maxWorkers) {
      this.#waiting.shift()!.take(this.#spawn());
    }
    while (this.#idle.length < this.#limits.maxIdleWorkers && this.#all.size < this.#limits.maxWorkers) {
      this.#idle.push(this.#spawn());
    }
  }
}

/**
 * The first line of a worker's error message, without anything path-like: what the stripper
 * says when it traps ("memory access out of bounds") is useful, the host's layout is not.
 */
function firstLine(message: string): string {
  const line = message.split('\n', 1)[0]!.slice(0, 200);
  return line.replace(/(?:file:\/\/)?(?:\/[\w.@-]+)+/g, '<path>');
}

function clampDelay(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

function fail(kind: Exclude<TransformFailure['kind'], 'syntax'>, message: string): TransformResult<never> {
  return { ok: false, failure: { kind, message } };
}
