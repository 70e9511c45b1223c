/**
 * Reading side of the JetStream output layout (see jetstream-output-format.ts): chunks back
 * into whole lines, and lines into an {@link OutputPage} with the same semantics as the
 * embedded log (byte pages never split a character and always move forward).
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import type { OutputLevel } from '../core/api/execution.ts';
import type { StoredLine } from '../core/output-page.ts';
import { HDR, decodeLevels, malformed, type Tail } from './jetstream-output-format.ts';

/** A stored chunk: where it sits and its bytes. */
export interface Chunk {
  seq: number;
  byte: number;
  line: number;
  lineStart: number;
  levels: OutputLevel[];
  payload: Uint8Array;
}

export function intHeader(h: MsgHdrs | undefined, name: string): number {
  const value = Number(h?.get(name));
  if (!Number.isSafeInteger(value) || value < 0) throw malformed(`header ${name} is "${h?.get(name) ?? ''}"`);
  return value;
}

/** The position a mark or chunk message carries. */
export function position(h: MsgHdrs | undefined): { byte: number; line: number; lineStart: number } {
  return {
    byte: intHeader(h, HDR.byte),
    line: intHeader(h, HDR.line),
    lineStart: intHeader(h, HDR.lineStart),
  };
}

export function decodeChunk(m: { seq: number; header?: MsgHdrs; data: Uint8Array }): Chunk {
  const levels = decodeLevels(m.header?.get(HDR.levels) ?? '');
  let newlines = 0;
  for (const b of m.data) if (b === 0x0a) newlines++;
  if (newlines !== levels.length)
    throw malformed(`chunk ${m.seq} ends ${newlines} lines but has ${levels.length} levels`);
  return { seq: m.seq, ...position(m.header), levels, payload: m.data };
}

export function decodeTail(m: { seq: number; header?: MsgHdrs } | null): Tail {
  if (m === null) return { seq: 0, lines: 0, bytes: 0 };
  return { seq: m.seq, lines: intHeader(m.header, HDR.lines), bytes: intHeader(m.header, HDR.bytes) };
}

/**
 * Turns consecutive chunks back into whole lines. A first chunk that starts mid-line has that
 * line's beginning elsewhere: its remainder is skipped, and lines come from the next one on;
 * with `fromFirstByte`, the remainder is given as that line from the chunk's first byte on
 * (`start` = the chunk's offset), which is all a byte page needs: a page inside a long line does
 * not read the line's beginning (only on to its end, where its level is stored).
 */
export class LineAssembler {
  readonly #fromFirstByte: boolean;
  #next: number | undefined;
  #skipping = false;
  #line = 0;
  #lineStart = 0;
  #parts: Uint8Array[] = [];

  constructor(opts: { fromFirstByte?: boolean } = {}) {
    this.#fromFirstByte = opts.fromFirstByte ?? false;
  }

  push(chunk: Chunk): StoredLine[] {
    if (this.#next === undefined) {
      const midLine = chunk.lineStart < chunk.byte;
      this.#skipping = midLine && !this.#fromFirstByte;
      this.#line = chunk.line;
      this.#lineStart = midLine && this.#fromFirstByte ? chunk.byte : chunk.lineStart;
    } else if (chunk.byte !== this.#next) {
      // Chunks of one execution are contiguous unless it was deleted and written again meanwhile.
      throw malformed(`chunk ${chunk.seq} starts at byte ${chunk.byte}, expected ${this.#next}`);
    }
    this.#next = chunk.byte + chunk.payload.length;
    const out: StoredLine[] = [];
    const data = chunk.payload;
    let pos = 0;
    let ended = 0;
    while (pos < data.length) {
      const nl = data.indexOf(0x0a, pos);
      if (nl < 0) {
        if (!this.#skipping) this.#parts.push(data.subarray(pos));
        break;
      }
      const level = chunk.levels[ended++]!;
      if (!this.#skipping) {
        this.#parts.push(data.subarray(pos, nl));
        out.push({ index: this.#line, start: this.#lineStart, level, text: Buffer.concat(this.#parts) });
      }
      this.#skipping = false;
      this.#parts = [];
      this.#line += 1;
      this.#lineStart = chunk.byte + nl + 1;
      pos = nl + 1;
    }
    return out;
  }
}
