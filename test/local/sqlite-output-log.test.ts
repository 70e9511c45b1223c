// The embedded output log on a real SQLite file: line and byte paging (multi-byte text never
// split), totals, restarts, and index-only lookups however much an execution printed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputLine, OutputPage } from '../../src/core/execution-store.ts';
import { MEMORY_DATABASE, openDatabase, type SqliteDatabase } from '../../src/local/sqlite-database.ts';
import { OUTPUT_LOG_QUERIES, SqliteOutputLog } from '../../src/local/sqlite-output-log.ts';

let dir: string;
let file: string;
let db: SqliteDatabase;
let log: SqliteOutputLog;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpv8-output-'));
  file = join(dir, 'mcpv8.db');
  db = openDatabase(file);
  log = new SqliteOutputLog(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (...texts: string[]): OutputLine[] => texts.map((text) => ({ level: 'log', text }));
const joined = (texts: readonly string[]): string => texts.map((t) => `${t}\n`).join('');

/** Text mixing 1-, 2-, 3- and 4-byte characters, and an empty line. */
const MIXED = ['héllo', '😀😀', '', '漢字かな', 'a😀é漢b', 'plain ascii line', '€'];

describe('line mode', () => {
  it('pages lines with both coordinate systems', async () => {
    await log.append('e', lines('one', 'two', 'thrée'));
    await log.append('e', [{ level: 'error', text: 'four' }]);
    const p = await log.read('e', { mode: 'lines', offset: 1, limit: 2 });
    expect(p).toStrictEqual({
      text: 'two\nthrée\n',
      lines: [
        { level: 'log', text: 'two', index: 1 },
        { level: 'log', text: 'thrée', index: 2 },
      ],
      lineOffset: 1,
      nextLineOffset: 3,
      byteOffset: 4,
      nextByteOffset: 4 + 4 + 7,
      totalLines: 4,
      totalBytes: 4 + 4 + 7 + 5,
      hasMore: true,
    } satisfies OutputPage);
    const last = await log.read('e', { mode: 'lines', offset: 3, limit: 10 });
    expect(last).toMatchObject({ text: 'four\n', nextLineOffset: 4, nextByteOffset: 20, hasMore: false });
    expect(last.lines).toEqual([{ level: 'error', text: 'four', index: 3 }]);
  });

  it('splits a line holding newlines so both coordinate systems agree', async () => {
    await log.append('e', lines('a\nb'));
    const p = await log.read('e', { mode: 'lines', offset: 0, limit: 10 });
    expect(p).toMatchObject({ text: 'a\nb\n', totalLines: 2, totalBytes: 4 });
  });

  it('returns an empty page with totals past the end and for an unknown execution', async () => {
    await log.append('e', lines('x', 'y'));
    expect(await log.read('e', { mode: 'lines', offset: 5, limit: 3 })).toStrictEqual({
      text: '',
      lines: [],
      lineOffset: 2,
      nextLineOffset: 2,
      byteOffset: 4,
      nextByteOffset: 4,
      totalLines: 2,
      totalBytes: 4,
      hasMore: false,
    } satisfies OutputPage);
    expect(await log.read('e', { mode: 'bytes', offset: 4, limit: 3 })).toMatchObject({
      text: '',
      totalBytes: 4,
      hasMore: false,
    });
    expect(await log.read('nope', { mode: 'bytes', offset: 0, limit: 3 })).toMatchObject({
      text: '',
      totalLines: 0,
      totalBytes: 0,
      hasMore: false,
    });
  });

  it('rejects negative or non-integer offsets and limits', async () => {
    for (const range of [
      { offset: -1, limit: 1 },
      { offset: 0.5, limit: 1 },
      { offset: 0, limit: 0 },
      { offset: 0, limit: 2.5 },
    ]) {
      await expect(log.read('e', { mode: 'lines', ...range })).rejects.toThrow(RangeError);
      await expect(log.read('e', { mode: 'bytes', ...range })).rejects.toThrow(RangeError);
    }
  });
});

describe('byte mode', () => {
  it('returns the requested bytes, ending before a character they would split', async () => {
    await log.append('e', lines('abc', 'dé'));
    const p = await log.read('e', { mode: 'bytes', offset: 2, limit: 4 });
    expect(p).toStrictEqual({
      text: 'c\nd', // [2, 6) ends inside é, so the page ends before it
      lines: [
        { level: 'log', text: 'abc', index: 0 },
        { level: 'log', text: 'dé', index: 1 },
      ],
      lineOffset: 0,
      nextLineOffset: 1,
      byteOffset: 2,
      nextByteOffset: 5,
      totalLines: 2,
      totalBytes: 8,
      hasMore: true,
    } satisfies OutputPage);
  });

  it('moves the page inward rather than split a character, and always progresses', async () => {
    await log.append('e', lines('😀'));
    // Inside the emoji at both ends: nothing whole fits, so the next whole character is returned.
    expect(await log.read('e', { mode: 'bytes', offset: 1, limit: 2 })).toMatchObject({
      text: '\n',
      byteOffset: 4,
      nextByteOffset: 5,
    });
    // The limit is smaller than the character at the offset: the whole character is returned.
    expect(await log.read('e', { mode: 'bytes', offset: 0, limit: 1 })).toMatchObject({
      text: '😀',
      byteOffset: 0,
      nextByteOffset: 4,
      lineOffset: 0,
      nextLineOffset: 0,
      hasMore: true,
    });
  });

  it('reproduces the log exactly over every page size 1..50, each page valid UTF-8', async () => {
    await log.append('e', lines(...MIXED));
    await log.append('e', [{ level: 'warn', text: '末尾😀' }]);
    const full = joined([...MIXED, '末尾😀']);
    const totalBytes = Buffer.byteLength(full);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let size = 1; size <= 50; size++) {
      let offset = 0;
      let text = '';
      let lineCursor = 0;
      for (;;) {
        const p = await log.read('e', { mode: 'bytes', offset, limit: size });
        expect(p.byteOffset, `size ${size}`).toBe(offset);
        const bytes = Buffer.from(p.text);
        expect(decoder.decode(bytes)).toBe(p.text);
        expect(bytes.length).toBe(p.nextByteOffset - p.byteOffset);
        expect(bytes.length).toBeLessThanOrEqual(Math.max(size, 4));
        expect(p.totalBytes).toBe(totalBytes);
        expect(p.lineOffset).toBe(lineCursor);
        expect(p.lines[0]?.index).toBe(p.lineOffset);
        text += p.text;
        lineCursor = p.nextLineOffset;
        offset = p.nextByteOffset;
        if (!p.hasMore) break;
      }
      expect(text, `size ${size}`).toBe(full);
      expect(lineCursor).toBe(8);
    }
  });

  it('starting inside a character moves forward to the next whole one', async () => {
    await log.append('e', lines(...MIXED));
    const full = Buffer.from(joined(MIXED));
    for (let offset = 0; offset < full.length; offset++) {
      const p = await log.read('e', { mode: 'bytes', offset, limit: 7 });
      expect(p.byteOffset).toBeGreaterThanOrEqual(offset);
      expect(p.byteOffset - offset).toBeLessThan(4);
      expect(Buffer.from(p.text).equals(full.subarray(p.byteOffset, p.nextByteOffset))).toBe(true);
    }
  });
});

describe('durability and cost', () => {
  it('keeps output across a restart and continues the indexes after it', async () => {
    await log.append('e', lines('é1', 'line2'));
    db.close();
    db = openDatabase(file);
    log = new SqliteOutputLog(db);
    await log.append('e', lines('😀3'));
    const p = await log.read('e', { mode: 'lines', offset: 0, limit: 10 });
    expect(p.text).toBe('é1\nline2\n😀3\n');
    expect(p.lines.map((l) => l.index)).toEqual([0, 1, 2]);
    expect(p.totalBytes).toBe(4 + 6 + 6);
    const tail = await log.read('e', { mode: 'bytes', offset: 10, limit: 100 });
    expect(tail).toMatchObject({ text: '😀3\n', lineOffset: 2, nextLineOffset: 3 });
  });

  it('deletes the output of executions', async () => {
    await log.append('a', lines('1'));
    await log.append('b', lines('2'));
    await log.delete(['a']);
    expect((await log.read('a', { mode: 'lines', offset: 0, limit: 5 })).totalLines).toBe(0);
    expect((await log.read('b', { mode: 'lines', offset: 0, limit: 5 })).text).toBe('2\n');
    await log.append('a', lines('again'));
    expect(await log.read('a', { mode: 'lines', offset: 0, limit: 5 })).toMatchObject({
      text: 'again\n',
      byteOffset: 0,
      totalLines: 1,
    });
  });

  it('does not interleave concurrent appends and works in memory', async () => {
    const mem = openDatabase(MEMORY_DATABASE);
    try {
      const m = new SqliteOutputLog(mem);
      await Promise.all([m.append('e', lines('a1', 'a2', 'a3')), m.append('e', lines('b1', 'b2'))]);
      const p = await m.read('e', { mode: 'lines', offset: 0, limit: 10 });
      expect(p.text).toBe('a1\na2\na3\nb1\nb2\n');
    } finally {
      mem.close();
    }
  });

  it('reads the end of 100k lines through the indexes only', async () => {
    const batch = Array.from({ length: 1000 }, (_, i) => ({ level: 'log' as const, text: `l${i} é` }));
    for (let i = 0; i < 100; i++) await log.append('big', batch);
    await log.append('small', lines('x'));
    // A fresh instance re-seeds its tail from the DB, as after a restart.
    log = new SqliteOutputLog(db);
    const byLines = await log.read('big', { mode: 'lines', offset: 99_998, limit: 10 });
    expect(byLines).toMatchObject({ text: 'l998 é\nl999 é\n', totalLines: 100_000, hasMore: false });
    const end = byLines.totalBytes;
    const byBytes = await log.read('big', { mode: 'bytes', offset: end - 8, limit: 100 });
    expect(byBytes).toMatchObject({ text: 'l999 é\n', lineOffset: 99_999, nextLineOffset: 100_000 });

    // Every lookup is an index search bounded by the execution id (and a line or byte range);
    // none scans the table.
    for (const [name, sql] of Object.entries(OUTPUT_LOG_QUERIES)) {
      if (name === 'insert') continue;
      const params = (sql.match(/\?/g) ?? []).map(() => 1);
      params[0] = 'big' as unknown as number;
      const plan = db.connection
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((r) => String(r.detail));
      const why = `${name}: ${plan.join('; ')}`;
      expect(plan.length, why).toBeGreaterThan(0);
      expect(
        plan.every((d) => /^SEARCH output_lines USING (COVERING )?INDEX \S+ \(execution_id=\?/.test(d)),
        why,
      ).toBe(true);
    }
    expect(
      db.connection
        .prepare(`EXPLAIN QUERY PLAN ${OUTPUT_LOG_QUERIES.linesByByte}`)
        .all('big', 1, 2)
        .map((r) => String(r.detail)),
    ).toEqual([
      expect.stringMatching(/output_lines_by_byte \(execution_id=\? AND byte_start>\? AND byte_start<\?\)/),
    ]);
  });
});
