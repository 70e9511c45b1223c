/**
 * The cluster OutputLog: console output in one JetStream stream (default `MCPV8_OUTPUT`).
 *
 * Subjects, per execution (`<ns>` and `<id>` escaped by {@link subjectToken}, so no user
 * string can add a token or a wildcard):
 *   <prefix>.<ns>.<id>.out         chunks of the log's bytes (what a live follower subscribes to)
 *   <prefix>.<ns>.<id>.out.l.<n>   mark: line n·128 starts in the next chunk
 *   <prefix>.<ns>.<id>.out.b.<m>   mark: byte m·16384 is in the next chunk
 *   <prefix>.<ns>.<id>.out.tail    totals after the last append (rolled up to one message)
 * See jetstream-output-format.ts for the headers.
 *
 * Writing (jetstream-output-writer.ts): each append is one atomic batch — chunks, marks and a
 * tail that only lands if the stored tail is unchanged (compare-and-set), with a `Nats-Msg-Id`
 * so a batch resent after a lost ack is not stored twice.
 *
 * Reading a page costs: one direct get of the tail (exact totals), one of the mark at or
 * before the offset, and direct batch gets of the chunks from the mark on — at most 128 lines
 * or 16 KiB before the page, plus the page itself (a line page holds whole lines; a byte page
 * starts inside a long line without reading its beginning). Nothing depends on how much the
 * execution printed.
 */
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { OutputLine, OutputLog, OutputPage, OutputRange } from '../core/execution-store.ts';
import { ensureStream } from './jetstream-batch.ts';
import {
  DEFAULT_OUTPUT_LAYOUT,
  maxLineBytes,
  outputSubjects,
  type OutputLayout,
  type OutputSubjects,
  type Tail,
} from './jetstream-output-format.ts';
import { LineAssembler, decodeChunk, decodeTail } from './jetstream-output-pages.ts';
import {
  assertOutputRange,
  bytePage,
  emptyPage,
  fetchEnd,
  lineEnd,
  linePage,
  type StoredLine,
} from '../core/index.ts';
import { OutputWriter, toUnits } from './jetstream-output-writer.ts';
import { assertBucketName, assertSubjectPrefix, subjectToken } from './nats-tokens.ts';

/** Default stream and first subject token of the output log. */
export const DEFAULT_OUTPUT_STREAM = 'MCPV8_OUTPUT';
export const DEFAULT_OUTPUT_SUBJECT_PREFIX = 'exec';

/** Where an execution's lines are with the default settings (for `status.output` of an Execution). */
export function outputLocation(namespace: string, executionId: string): { stream: string; subject: string } {
  const base = `${DEFAULT_OUTPUT_SUBJECT_PREFIX}.${subjectToken(namespace, 'namespace')}.${subjectToken(executionId, 'execution id')}`;
  return { stream: DEFAULT_OUTPUT_STREAM, subject: outputSubjects(base).out };
}

export interface JetStreamOutputLogOptions {
  /** Stream name (default `MCPV8_OUTPUT`); created when missing. */
  stream?: string;
  /** First subject token(s) (default `exec`). */
  subjectPrefix?: string;
  /** Tenant whose executions this instance reads and writes (default `default`). */
  namespace?: string;
  /** Stream replicas when the stream is created (default 1). */
  replicas?: number;
  /** Timeout of each request to the server (default 10 s). */
  timeoutMs?: number;
  /** Chunk and mark sizes; tests shrink them. @internal */
  layout?: Partial<OutputLayout>;
}

/** Counters of direct gets, for metrics and for tests that check what a read costs. */
export interface OutputReadStats {
  /** Direct-get requests sent (reads, and the tail lookups of appends). */
  requests: number;
  /** Messages those requests returned. */
  messages: number;
}

/** Bytes one direct batch get may return. */
const MAX_BATCH_GET_BYTES = 1024 * 1024;

/** {@link OutputLog} on a JetStream stream; create with {@link JetStreamOutputLog.open}. */
export class JetStreamOutputLog implements OutputLog {
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #base: string;
  readonly #layout: OutputLayout;
  /** Longest line an append may hold (one line must fit one atomic batch). */
  readonly #maxLine: number;
  readonly #writer: OutputWriter;
  readonly #stats: OutputReadStats = { requests: 0, messages: 0 };

  /** Ensures the stream exists with atomic batches, direct gets and rollups enabled. */
  static async open(nc: NatsConnection, opts: JetStreamOutputLogOptions = {}): Promise<JetStreamOutputLog> {
    const stream = assertBucketName(opts.stream ?? DEFAULT_OUTPUT_STREAM);
    const prefix = assertSubjectPrefix(opts.subjectPrefix ?? DEFAULT_OUTPUT_SUBJECT_PREFIX);
    const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 10_000 });
    await ensureStream(jsm, {
      name: stream,
      subjects: [`${prefix}.*.*.out`, `${prefix}.*.*.out.>`],
      num_replicas: opts.replicas ?? 1,
      allow_atomic: true,
      allow_direct: true,
      allow_rollup_hdrs: true,
    });
    return new JetStreamOutputLog(nc, jsm, stream, prefix, opts);
  }

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    stream: string,
    prefix: string,
    opts: JetStreamOutputLogOptions,
  ) {
    this.#jsm = jsm;
    this.#stream = stream;
    this.#base = `${prefix}.${subjectToken(opts.namespace ?? 'default', 'namespace')}`;
    this.#layout = { ...DEFAULT_OUTPUT_LAYOUT, ...opts.layout };
    this.#maxLine = maxLineBytes(this.#layout);
    this.#writer = new OutputWriter({
      nc,
      layout: this.#layout,
      timeoutMs: opts.timeoutMs ?? 10_000,
      readTail: async (s) => decodeTail(await this.#last(s.tail)),
    });
  }

  /** What the reads of this instance have cost so far. */
  get readStats(): Readonly<OutputReadStats> {
    return { ...this.#stats };
  }

  async append(executionId: string, lines: readonly OutputLine[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (lines.length === 0) return;
    const subjects = this.#subjects(executionId);
    // Nothing is awaited before the writer queues it, so appends keep their call order.
    await this.#writer.append(subjects, toUnits(lines, this.#maxLine), signal);
  }

  /** @throws MCPV8_ERR_INPUT_INVALID for a negative or non-integer offset, or a limit below 1. */
  async read(executionId: string, range: OutputRange, signal?: AbortSignal): Promise<OutputPage> {
    signal?.throwIfAborted();
    assertOutputRange(range);
    const { offset, limit } = range;
    const subjects = this.#subjects(executionId);
    const tail = decodeTail(await this.#last(subjects.tail));
    return range.mode === 'lines'
      ? this.#readLines(subjects, offset, limit, tail, signal)
      : this.#readBytes(subjects, offset, limit, tail, signal);
  }

  /** Purges every subject of these executions. */
  async delete(executionIds: readonly string[], signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const bases = executionIds.map((id) => this.#subjects(id).base);
    try {
      for (let i = 0; i < bases.length; i += 16) {
        signal?.throwIfAborted();
        await Promise.all(
          bases
            .slice(i, i + 16)
            .map((base) => this.#jsm.streams.purge(this.#stream, { filter: `${base}.>` })),
        );
      }
    } finally {
      for (const base of bases) this.#writer.forget(base);
    }
  }

  #subjects(executionId: string): OutputSubjects {
    return outputSubjects(`${this.#base}.${subjectToken(executionId, 'execution id')}`);
  }

  async #readLines(
    s: OutputSubjects,
    offset: number,
    limit: number,
    tail: Tail,
    signal?: AbortSignal,
  ): Promise<OutputPage> {
    if (offset >= tail.lines) return emptyPage(tail);
    const end = Math.min(offset + limit, tail.lines);
    const mark = await this.#last(s.lineMark(Math.floor(offset / this.#layout.lineMarkEvery)));
    const rows: StoredLine[] = [];
    await this.#scan(s, mark?.seq ?? 1, false, signal, (line) => {
      if (line.index >= offset) rows.push(line);
      return line.index + 1 >= end;
    });
    return linePage(rows, tail);
  }

  async #readBytes(
    s: OutputSubjects,
    offset: number,
    limit: number,
    tail: Tail,
    signal?: AbortSignal,
  ): Promise<OutputPage> {
    if (offset >= tail.bytes) return emptyPage(tail);
    // The chunk after the mark holds a byte at or before `offset`; a line it starts inside is
    // read from there on (a byte page needs nothing before its offset).
    const mark = await this.#last(s.byteMark(Math.floor(offset / this.#layout.byteMarkEvery)));
    const last = fetchEnd(offset, limit, tail);
    const rows: StoredLine[] = [];
    await this.#scan(s, mark?.seq ?? 1, true, signal, (line) => {
      if (line.index >= tail.lines) return true;
      const end = lineEnd(line);
      if (end <= offset) return false;
      rows.push(line);
      return end > last;
    });
    return bytePage(rows, offset, limit, tail);
  }

  /**
   * Feeds the execution's lines, from the chunk after `fromSeq`, to `visit` until it returns
   * true or the chunks run out. Batches grow from 2 messages, so a small page costs one request.
   * `fromFirstByte`: a line the first chunk starts inside is given from there on (see
   * {@link LineAssembler}); otherwise lines start at the next whole one.
   */
  async #scan(
    s: OutputSubjects,
    fromSeq: number,
    fromFirstByte: boolean,
    signal: AbortSignal | undefined,
    visit: (line: StoredLine) => boolean,
  ): Promise<void> {
    const assembler = new LineAssembler({ fromFirstByte });
    let seq = fromSeq;
    let want = 2;
    for (;;) {
      signal?.throwIfAborted();
      const batch = await this.#batch(s.out, seq, want);
      for (const m of batch) {
        for (const line of assembler.push(decodeChunk(m))) if (visit(line)) return;
        seq = m.seq + 1;
      }
      // `pending`: messages on the subject after this one.
      if (batch.length === 0 || batch.at(-1)!.pending === 0) return;
      want = Math.min(want * 2, 64);
    }
  }

  async #last(subject: string): Promise<StoredMsg | null> {
    this.#stats.requests += 1;
    const m = await this.#jsm.direct.getMessage(this.#stream, { last_by_subj: subject });
    if (m !== null) this.#stats.messages += 1;
    return m;
  }

  async #batch(subject: string, seq: number, batch: number): Promise<StoredMsg[]> {
    this.#stats.requests += 1;
    const out: StoredMsg[] = [];
    try {
      const it = await this.#jsm.direct.getBatch(this.#stream, {
        seq,
        batch,
        max_bytes: MAX_BATCH_GET_BYTES,
        next_by_subj: subject,
      });
      for await (const m of it) out.push(m);
    } catch (err) {
      // 404: nothing at or after `seq` (the execution was deleted meanwhile).
      if ((err as { code?: number }).code !== 404) throw err;
    }
    this.#stats.messages += out.length;
    return out;
  }
}
