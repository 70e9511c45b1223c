/**
 * The write path of the JetStream output log. An append becomes one atomic batch (chunks,
 * marks, tail; see jetstream-output-format.ts) whose tail only lands if the stored tail is
 * still the one the batch was planned on, so writers on any number of connections never
 * interleave and every line gets exactly one index. The first message of a batch carries a
 * `Nats-Msg-Id`: when an ack is lost the batch is sent again as it is, and the server refuses
 * it as a duplicate if the first send landed. An append too large for one batch (≈4 MiB) is
 * stored as several, each atomic and cut between lines.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { OutputLine } from '../core/execution-store.ts';
import { Mcpv8Error } from '../core/errors.ts';
import {
  BatchRejectedError,
  JS_ERR,
  isRetryableBatchError,
  publishAtomicBatch,
  sleep,
} from './jetstream-batch.ts';
import {
  planBatch,
  unitsPerBatch,
  type OutputLayout,
  type OutputSubjects,
  type Tail,
  type Unit,
} from './jetstream-output-format.ts';

const TAIL_CACHE_SIZE = 1024;
/** Appends that lost the compare-and-set this many times in a row give up. */
const MAX_CONFLICTS = 200;
/** Sends of one batch after a timeout or a busy server. */
const MAX_RESENDS = 5;
const VALID_LEVELS = new Set(['log', 'info', 'warn', 'error', 'debug']);

export interface OutputWriterOptions {
  nc: NatsConnection;
  layout: OutputLayout;
  timeoutMs: number;
  /** Reads the stored tail of an execution. */
  readTail(s: OutputSubjects): Promise<Tail>;
}

/**
 * Console records as stored lines: split at newlines (a line must not contain its terminator,
 * or line and byte coordinates disagree), made well-formed (lone surrogates would not survive
 * UTF-8, so count what is stored). Refuses the whole append when one line is longer than
 * `maxLine` bytes (`maxLineBytes` of the layout).
 * @throws MCPV8_ERR_INPUT_INVALID
 */
export function toUnits(lines: readonly OutputLine[], maxLine: number): Unit[] {
  const units: Unit[] = [];
  for (const line of lines) {
    if (!VALID_LEVELS.has(line.level)) {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`unknown output level "${String(line.level)}"`]);
    }
    for (const text of line.text.toWellFormed().split('\n')) {
      const unit: Unit = { level: line.level, bytes: Buffer.from(text, 'utf8') };
      if (unit.bytes.length > maxLine) {
        throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
          `an output line of ${unit.bytes.length} bytes is longer than the output log stores (${maxLine})`,
        ]);
      }
      units.push(unit);
    }
  }
  return units;
}

/** Appends for one JetStreamOutputLog instance. */
export class OutputWriter {
  readonly #opts: OutputWriterOptions;
  /** Tails this instance wrote last, least recently used first; a stale one only costs a retry. */
  readonly #tails = new Map<string, Tail>();
  /** Appends to one execution from this instance run one after another, in call order. */
  readonly #queues = new Map<string, Promise<void>>();

  constructor(opts: OutputWriterOptions) {
    this.#opts = opts;
  }

  /** Queues the append at once (call order is append order) and resolves when it is stored. */
  append(s: OutputSubjects, units: readonly Unit[], signal?: AbortSignal): Promise<void> {
    const run = (this.#queues.get(s.base) ?? Promise.resolve()).then(() => this.#write(s, units, signal));
    const settled = run.catch(() => undefined);
    this.#queues.set(s.base, settled);
    void settled.then(() => {
      if (this.#queues.get(s.base) === settled) this.#queues.delete(s.base);
    });
    return run;
  }

  /** Drops what is remembered of an execution (its output was deleted). */
  forget(base: string): void {
    this.#tails.delete(base);
  }

  async #write(s: OutputSubjects, units: readonly Unit[], signal?: AbortSignal): Promise<void> {
    const appendId = randomUUID();
    try {
      let tail = this.#tails.get(s.base) ?? (await this.#opts.readTail(s));
      let conflicts = 0;
      for (let from = 0, part = 0; from < units.length;) {
        const count = unitsPerBatch(units, from, this.#opts.layout);
        // toUnits() refused any line that does not fit a batch alone.
        if (count === 0) throw new Error('unreachable: a line longer than a batch');
        const result = await this.#commit(
          tail,
          units.slice(from, from + count),
          s,
          `${appendId}-${part}`,
          signal,
        );
        if (result === 'conflict') {
          // Another writer appended first: plan again after its tail.
          if (++conflicts > MAX_CONFLICTS) {
            throw new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [
              `appending output of ${s.base} lost ${MAX_CONFLICTS} races with other writers in a row`,
            ]);
          }
          tail = await this.#opts.readTail(s);
          if (conflicts > 3) await sleep(Math.random() * 5 * conflicts, signal);
          continue;
        }
        tail = result;
        conflicts = 0;
        from += count;
        part += 1;
      }
      this.#remember(s.base, tail);
    } catch (err) {
      this.#tails.delete(s.base);
      throw err;
    }
  }

  /** Stores one batch; sends it again, unchanged, while the outcome is unknown or the server busy. */
  async #commit(
    tail: Tail,
    units: readonly Unit[],
    s: OutputSubjects,
    msgId: string,
    signal?: AbortSignal,
  ): Promise<Tail | 'conflict'> {
    const plan = planBatch(tail, units, s, this.#opts.layout, msgId);
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      try {
        const ack = await publishAtomicBatch(this.#opts.nc, plan.messages, this.#opts.timeoutMs);
        return { seq: ack.seq, ...plan.end };
      } catch (err) {
        if (err instanceof BatchRejectedError && err.errCode === JS_ERR.DUPLICATE_MSG_ID) {
          // An earlier send of this very batch landed (its ack was lost).
          return this.#opts.readTail(s);
        }
        if (err instanceof BatchRejectedError && err.errCode === JS_ERR.WRONG_LAST_SEQUENCE)
          return 'conflict';
        if (attempt + 1 >= MAX_RESENDS || !isRetryableBatchError(err)) throw err;
        await sleep(25 * 2 ** attempt, signal);
      }
    }
  }

  #remember(key: string, tail: Tail): void {
    this.#tails.delete(key);
    this.#tails.set(key, tail);
    if (this.#tails.size > TAIL_CACHE_SIZE) {
      const oldest = this.#tails.keys().next();
      if (oldest.done !== true) this.#tails.delete(oldest.value);
    }
  }
}
