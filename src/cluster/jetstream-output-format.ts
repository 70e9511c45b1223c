/**
 * The stored form of an execution's output in JetStream, and the planning of appends.
 *
 * The log of an execution is a byte string: every line's UTF-8 text followed by `\n`. It is
 * stored on `<prefix>.<ns>.<id>.out` as *chunks*: consecutive slices of that byte string
 * (payload = the raw bytes, at most `chunkBytes`; a line is cut only when it alone is longer
 * than a chunk). Headers say where a chunk sits:
 *   Mcpv8-Byte        offset of its first byte
 *   Mcpv8-Line        index of the line holding that byte
 *   Mcpv8-Line-Start  offset where that line starts (< Mcpv8-Byte when the chunk starts mid-line)
 *   Mcpv8-Levels      levels of the lines that end in the chunk, run-length coded (`l3e1`)
 * *Marks* are empty messages on `….out.l.<n>` (line n·lineMarkEvery starts in the next chunk)
 * and `….out.b.<m>` (byte m·byteMarkEvery is in the next chunk), stored just before that chunk
 * in the same atomic batch, so "the next chunk after the mark" is a direct get by subject from
 * the mark's sequence. The *tail* on `….out.tail` (rolled up: one per execution) holds the totals
 * after the last append and is the compare-and-set point of writers.
 */
import type { OutputLevel } from '../core/api/execution.ts';
import { Mcpv8Error } from '../core/errors.ts';
import type { BatchMessage } from './jetstream-batch.ts';

/** Sizes of the layout; the defaults keep every read within a few small requests. */
export interface OutputLayout {
  /** Largest chunk payload. */
  chunkBytes: number;
  /** Most lines ending in one chunk (bounds the levels header). */
  chunkLines: number;
  /** A line mark every this many lines. */
  lineMarkEvery: number;
  /** A byte mark every this many bytes. */
  byteMarkEvery: number;
  /** Most messages in one atomic batch (the server's limit is 1000). */
  batchMessages: number;
  /** Most payload bytes in one atomic batch; a longer line is refused. */
  batchBytes: number;
}

export const DEFAULT_OUTPUT_LAYOUT: Readonly<OutputLayout> = Object.freeze({
  chunkBytes: 32 * 1024,
  chunkLines: 512,
  lineMarkEvery: 128,
  byteMarkEvery: 16 * 1024,
  batchMessages: 1000,
  batchBytes: 4 * 1024 * 1024,
});

export const HDR = Object.freeze({
  byte: 'Mcpv8-Byte',
  line: 'Mcpv8-Line',
  lineStart: 'Mcpv8-Line-Start',
  levels: 'Mcpv8-Levels',
  lines: 'Mcpv8-Lines',
  bytes: 'Mcpv8-Bytes',
  append: 'Mcpv8-Append',
});

/** The subjects of one execution. */
export interface OutputSubjects {
  /** `<prefix>.<ns>.<id>`: purging `<base>.>` removes everything of the execution. */
  base: string;
  out: string;
  tail: string;
  lineMark(n: number): string;
  byteMark(m: number): string;
}

export function outputSubjects(base: string): OutputSubjects {
  const out = `${base}.out`;
  return {
    base,
    out,
    tail: `${out}.tail`,
    lineMark: (n) => `${out}.l.${n}`,
    byteMark: (m) => `${out}.b.${m}`,
  };
}

/** What the tail says: totals after the last append, and its stream sequence (0: none). */
export interface Tail {
  seq: number;
  lines: number;
  bytes: number;
}

/** One line to append: its text's UTF-8 bytes (no terminator). */
export interface Unit {
  level: OutputLevel;
  bytes: Buffer;
}

const LEVEL_CODES: Readonly<Record<OutputLevel, string>> = {
  log: 'l',
  info: 'i',
  warn: 'w',
  error: 'e',
  debug: 'd',
};
const LEVEL_BY_CODE = new Map(
  Object.entries(LEVEL_CODES).map(([level, code]) => [code, level as OutputLevel]),
);

export function encodeLevels(levels: readonly OutputLevel[]): string {
  let out = '';
  for (let i = 0; i < levels.length;) {
    let j = i + 1;
    while (j < levels.length && levels[j] === levels[i]) j++;
    out += `${LEVEL_CODES[levels[i]!]}${j - i}`;
    i = j;
  }
  return out;
}

export function decodeLevels(coded: string): OutputLevel[] {
  const levels: OutputLevel[] = [];
  for (const [, code, count] of coded.matchAll(/([a-z])(\d+)/g)) {
    const level = LEVEL_BY_CODE.get(code!);
    if (level === undefined) throw malformed(`unknown level code "${code}"`);
    for (let n = Number(count); n > 0; n--) levels.push(level);
  }
  return levels;
}

export function malformed(reason: string): Mcpv8Error {
  return new Mcpv8Error('MCPV8_ERR_SERVER_INTERNAL', [`stored output is malformed: ${reason}`]);
}

/**
 * Whether `lines` lines of `bytes` bytes in all (terminators included) surely fit one batch: a
 * conservative bound on the messages and bytes they produce, whatever the alignment of chunks
 * and marks. A chunk closed early (the next line did not fit) is followed by one holding more
 * than the rest, so chunks ≤ 2·bytes/chunkBytes, plus closures by line count, plus the ends.
 */
function fitsBatch(bytes: number, lines: number, layout: OutputLayout): boolean {
  const messages =
    2 * Math.ceil(bytes / layout.chunkBytes) +
    Math.ceil(lines / layout.chunkLines) +
    Math.floor(lines / layout.lineMarkEvery) +
    Math.floor(bytes / layout.byteMarkEvery) +
    6;
  return messages <= layout.batchMessages && bytes <= layout.batchBytes;
}

/**
 * How many of `units` (from `from`) one batch can take. Returns 0 when the first line alone is
 * too long for a batch.
 */
export function unitsPerBatch(units: readonly Unit[], from: number, layout: OutputLayout): number {
  let bytes = 0;
  let lines = 0;
  for (let i = from; i < units.length; i++) {
    const nextBytes = bytes + units[i]!.bytes.length + 1;
    if (!fitsBatch(nextBytes, lines + 1, layout)) break;
    bytes = nextBytes;
    lines += 1;
  }
  return lines;
}

/**
 * The longest line (UTF-8 bytes, without its terminator) the layout stores: one line is one
 * atomic batch, so its chunks and marks must fit the batch's message and byte bounds (-1 when
 * not even an empty line does). A longer line is refused.
 */
export function maxLineBytes(layout: OutputLayout): number {
  // fitsBatch only grows stricter with more bytes: the largest fitting size by bisection.
  let fits = -1;
  let fails = layout.batchBytes;
  while (fails - fits > 1) {
    const mid = Math.floor((fits + fails) / 2);
    if (fitsBatch(mid + 1, 1, layout)) fits = mid;
    else fails = mid;
  }
  return fits;
}

interface OpenChunk {
  byte: number;
  line: number;
  lineStart: number;
  parts: Buffer[];
  used: number;
  levels: OutputLevel[];
  marks: BatchMessage[];
}

/**
 * The messages of one atomic batch appending `units` after `tail`: chunks with their marks,
 * then the tail, which only lands if the stored tail is still `tail` (compare-and-set). The
 * first message carries `msgId`, so a batch that already landed is refused as a duplicate.
 */
export function planBatch(
  tail: Tail,
  units: readonly Unit[],
  subjects: OutputSubjects,
  layout: OutputLayout,
  msgId: string,
): { messages: BatchMessage[]; end: Omit<Tail, 'seq'> } {
  const messages: BatchMessage[] = [];
  let line = tail.lines;
  let byte = tail.bytes;
  let chunk: OpenChunk | undefined;
  const newline = Buffer.from('\n');

  const close = () => {
    if (chunk === undefined) return;
    messages.push(...chunk.marks, {
      subject: subjects.out,
      payload: Buffer.concat(chunk.parts, chunk.used),
      headers: {
        [HDR.byte]: String(chunk.byte),
        [HDR.line]: String(chunk.line),
        [HDR.lineStart]: String(chunk.lineStart),
        [HDR.levels]: encodeLevels(chunk.levels),
      },
    });
    chunk = undefined;
  };
  const mark = (subject: string, c: OpenChunk): BatchMessage => ({
    subject,
    // The chunk's position, so a reader can tell without fetching it whether it starts mid-line.
    headers: { [HDR.byte]: String(c.byte), [HDR.line]: String(c.line), [HDR.lineStart]: String(c.lineStart) },
  });

  for (const unit of units) {
    const size = unit.bytes.length + 1;
    if (
      chunk !== undefined &&
      (chunk.used + size > layout.chunkBytes || chunk.levels.length >= layout.chunkLines)
    ) {
      close();
    }
    const lineStart = byte;
    const bytes = Buffer.concat([unit.bytes, newline], size);
    let written = 0;
    while (written < size) {
      chunk ??= { byte, line, lineStart, parts: [], used: 0, levels: [], marks: [] };
      if (written === 0 && line % layout.lineMarkEvery === 0) {
        chunk.marks.push(mark(subjects.lineMark(line / layout.lineMarkEvery), chunk));
      }
      const n = Math.min(layout.chunkBytes - chunk.used, size - written);
      for (let m = Math.ceil(byte / layout.byteMarkEvery); m * layout.byteMarkEvery < byte + n; m++) {
        chunk.marks.push(mark(subjects.byteMark(m), chunk));
      }
      chunk.parts.push(bytes.subarray(written, written + n));
      chunk.used += n;
      byte += n;
      written += n;
      // The line goes on in the next chunk.
      if (written < size) close();
    }
    chunk!.levels.push(unit.level);
    line += 1;
  }
  close();
  messages.push({
    subject: subjects.tail,
    headers: {
      [HDR.lines]: String(line),
      [HDR.bytes]: String(byte),
      [HDR.append]: msgId,
      'Nats-Rollup': 'sub',
      'Nats-Expected-Last-Subject-Sequence': String(tail.seq),
    },
  });
  if (messages.length > layout.batchMessages) {
    throw new RangeError(
      `planned ${messages.length} messages for one batch (at most ${layout.batchMessages})`,
    );
  }
  messages[0] = { ...messages[0]!, headers: { ...messages[0]!.headers, 'Nats-Msg-Id': msgId } };
  return { messages, end: { lines: line, bytes: byte } };
}
