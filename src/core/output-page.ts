/**
 * Pages of an execution's output log, the same for every OutputLog implementation: given the
 * consecutive lines a store fetched and the log's totals, build the {@link OutputPage} the API
 * returns — line pages, and byte pages that never split a UTF-8 character, never carry more
 * than their limit (a long line is cut, and the next page continues inside it) and always move on.
 */
import type { OutputLevel } from './api/execution.ts';
import { Mcpv8Error } from './errors.ts';
import type { OutputLine, OutputPage, OutputRange } from './execution-store.ts';

/** How much a log holds: lines (= the next line's index) and bytes (= its first byte). */
export interface OutputTail {
  lines: number;
  bytes: number;
}

/** One whole line read back. */
export interface StoredLine {
  index: number;
  /** Offset of its first byte in the log. */
  start: number;
  level: OutputLevel;
  /** UTF-8 text without the terminator. */
  text: Buffer;
}

/** Bytes a line occupies in the log, terminator included. */
export const lineEnd = (l: StoredLine): number => l.start + l.text.length + 1;

function toLine(l: StoredLine): OutputLine & { index: number } {
  return { level: l.level, text: l.text.toString('utf8'), index: l.index };
}

/** A page past the end: no text, both offsets at the end, correct totals. */
export function emptyPage(tail: OutputTail): OutputPage {
  return {
    text: '',
    lines: [],
    lineOffset: tail.lines,
    nextLineOffset: tail.lines,
    byteOffset: tail.bytes,
    nextByteOffset: tail.bytes,
    totalLines: tail.lines,
    totalBytes: tail.bytes,
    hasMore: false,
  };
}

/** A line-mode page of `rows` (consecutive lines). */
export function linePage(rows: readonly StoredLine[], tail: OutputTail): OutputPage {
  const first = rows[0];
  const last = rows.at(-1);
  if (first === undefined || last === undefined) return emptyPage(tail);
  const lines = rows.map(toLine);
  return {
    text: lines.map((l) => `${l.text}\n`).join(''),
    lines,
    lineOffset: first.index,
    nextLineOffset: last.index + 1,
    byteOffset: first.start,
    nextByteOffset: lineEnd(last),
    totalLines: tail.lines,
    totalBytes: tail.bytes,
    hasMore: last.index + 1 < tail.lines,
  };
}

/**
 * Most lines one page carries, in either mode: a byte page of short lines stops early (at a line
 * end) rather than build a response of a million tiny records.
 */
export const PAGE_MAX_LINES = 10_000;

/** Longest UTF-8 sequence: a byte page may be widened by this much to keep characters whole. */
export const MAX_CHAR_BYTES = 4;

/**
 * A byte-mode page from `rows`: consecutive lines, the first holding `offset`, through the
 * line holding `fetchEnd(offset, limit, tail)` (or the last line).
 */
export function bytePage(
  rows: readonly StoredLine[],
  offset: number,
  limit: number,
  tail: OutputTail,
): OutputPage {
  const first = rows[0];
  if (first === undefined) return emptyPage(tail);
  const base = first.start;
  const buf = Buffer.concat(rows.flatMap((r) => [r.text, Buffer.from('\n')]));
  const bufEnd = base + buf.length;
  // Continuation bytes are 10xxxxxx; a position on one is inside a character.
  const inside = (pos: number): boolean => pos < bufEnd && ((buf[pos - base] ?? 0) & 0xc0) === 0x80;

  let start = offset;
  while (inside(start)) start += 1;
  let end = Math.min(offset + limit, tail.bytes);
  while (end > start && inside(end)) end -= 1;
  if (end <= start) {
    // The limit is smaller than the character at `start`: return it whole so paging moves on.
    end = start + 1;
    while (inside(end)) end += 1;
  }
  // At most PAGE_MAX_LINES lines: the page then ends where its last line does (a stored line
  // end is a character boundary). A store may fetch no more rows than that, plus one.
  const firstRow = rows.findIndex((r) => start < lineEnd(r));
  const lastAllowed = firstRow < 0 ? undefined : rows[firstRow + PAGE_MAX_LINES - 1];
  if (lastAllowed !== undefined && lineEnd(lastAllowed) < end) end = lineEnd(lastAllowed);

  const lines: OutputPage['lines'] = [];
  let lineOffset = tail.lines;
  let nextLineOffset = tail.lines;
  for (const r of rows) {
    const rEnd = lineEnd(r);
    if (r.start <= start && start < rEnd) lineOffset = r.index;
    if (r.start <= end && end < rEnd) nextLineOffset = r.index;
    // Only the part of a line inside the page: a page carries at most its limit, however long
    // the line (`start` and `end` are character boundaries, so the cut text is whole UTF-8).
    if (r.start < end && rEnd > start) {
      const from = Math.max(start, r.start) - r.start;
      const to = Math.min(end, r.start + r.text.length) - r.start;
      lines.push({ ...toLine(r), text: r.text.subarray(from, Math.max(from, to)).toString('utf8') });
    }
  }
  return {
    text: buf.subarray(start - base, end - base).toString('utf8'),
    lines,
    lineOffset,
    nextLineOffset,
    byteOffset: start,
    nextByteOffset: end,
    totalLines: tail.lines,
    totalBytes: tail.bytes,
    hasMore: end < tail.bytes,
  };
}

/** The last byte a byte-mode page may need: moving out of a character and keeping one whole. */
export function fetchEnd(offset: number, limit: number, tail: OutputTail): number {
  return Math.min(offset + Math.max(limit, 2 * MAX_CHAR_BYTES), tail.bytes);
}

/** @throws MCPV8_ERR_INPUT_INVALID for a negative or non-integer offset, or a limit below 1. */
export function assertOutputRange(range: OutputRange): void {
  const { offset, limit } = range;
  const mode: unknown = range.mode;
  if (mode !== 'lines' && mode !== 'bytes') {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`mode must be lines or bytes, got ${String(mode)}`]);
  }
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `offset must be a non-negative integer, got ${String(offset)}`,
    ]);
  }
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `limit must be a positive integer, got ${String(limit)}`,
    ]);
  }
}
