// The behaviour every OutputLog must have: SqliteOutputLog (file and in-memory) in the unit
// suite, JetStreamOutputLog against the real NATS server in the integration suite. Line and
// byte paging (multi-byte text never split), totals, deletion, ordering of concurrent appends,
// a second instance over the same storage, and large outputs.
import { beforeEach, describe, expect, it } from 'vitest';
import type { OutputLine, OutputLog, OutputPage } from '../../src/core/execution-store.ts';
import { PAGE_MAX_LINES } from '../../src/core/output-page.ts';

export interface OutputLogHandle {
  log: OutputLog;
  /** Another instance over the same storage that shares no memory with `log` (a restart). */
  reopen(): Promise<OutputLog>;
}

export const lines = (...texts: string[]): OutputLine[] => texts.map((text) => ({ level: 'log', text }));
export const joined = (texts: readonly string[]): string => texts.map((t) => `${t}\n`).join('');

/** Text mixing 1-, 2-, 3- and 4-byte characters, and an empty line. */
export const MIXED = ['héllo', '😀😀', '', '漢字かな', 'a😀é漢b', 'plain ascii line', '€'];

/** `open` gives each test fresh, empty storage. */
export function outputLogContract(name: string, open: () => Promise<OutputLogHandle>): void {
  describe(`OutputLog contract: ${name}`, () => {
    let handle: OutputLogHandle;
    let log: OutputLog;
    beforeEach(async () => {
      handle = await open();
      log = handle.log;
    });

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
          { offset: Number.NaN, limit: 1 },
          { offset: 0, limit: Number.POSITIVE_INFINITY },
          { offset: 2 ** 53, limit: 1 },
        ]) {
          for (const mode of ['lines', 'bytes'] as const) {
            await expect(log.read('e', { mode, ...range })).rejects.toMatchObject({
              code: 'MCPV8_ERR_INPUT_INVALID',
            });
          }
        }
      });
    });

    describe('byte mode', () => {
      it('carries at most PAGE_MAX_LINES lines, ending where the last of them does', async () => {
        const many = Array.from({ length: PAGE_MAX_LINES + 5 }, () => '');
        await log.append('e', lines(...many));
        const first = await log.read('e', { mode: 'bytes', offset: 0, limit: 1 << 20 });
        expect(first.lines).toHaveLength(PAGE_MAX_LINES);
        expect(first).toMatchObject({
          nextByteOffset: PAGE_MAX_LINES,
          nextLineOffset: PAGE_MAX_LINES,
          hasMore: true,
        });
        const rest = await log.read('e', { mode: 'bytes', offset: first.nextByteOffset, limit: 1 << 20 });
        expect(rest.lines).toHaveLength(5);
        expect(rest.hasMore).toBe(false);
      });

      it('returns the requested bytes, ending before a character they would split', async () => {
        await log.append('e', lines('abc', 'dé'));
        const p = await log.read('e', { mode: 'bytes', offset: 2, limit: 4 });
        expect(p).toStrictEqual({
          text: 'c\nd', // [2, 6) ends inside é, so the page ends before it
          // Only the part of each line inside the page.
          lines: [
            { level: 'log', text: 'c', index: 0 },
            { level: 'log', text: 'd', index: 1 },
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
            const lineBytes = p.lines.reduce((n, l) => n + Buffer.byteLength(l.text), 0);
            expect(lineBytes).toBeLessThanOrEqual(bytes.length);
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

      it('cuts a line longer than the limit, and the next page continues inside it', async () => {
        const long = 'x'.repeat(65_530) + 'é😀';
        await log.append('e', lines(long, 'next'));
        const first = await log.read('e', { mode: 'bytes', offset: 0, limit: 100 });
        expect(first).toMatchObject({
          text: 'x'.repeat(100),
          lines: [{ level: 'log', text: 'x'.repeat(100), index: 0 }],
          byteOffset: 0,
          nextByteOffset: 100,
          lineOffset: 0,
          nextLineOffset: 0,
          hasMore: true,
        });
        // Page through it all: no page carries more than its limit, and nothing is lost.
        let offset = 0;
        let text = '';
        for (;;) {
          const p = await log.read('e', { mode: 'bytes', offset, limit: 1000 });
          expect(Buffer.byteLength(p.text)).toBeLessThanOrEqual(1000);
          expect(p.lines.reduce((n, l) => n + Buffer.byteLength(l.text), 0)).toBeLessThanOrEqual(1000);
          text += p.text;
          offset = p.nextByteOffset;
          if (!p.hasMore) break;
        }
        expect(text).toBe(`${long}\nnext\n`);
        // A page ending inside the 3 bytes of 'é😀' stops before the character it would split.
        const edge = await log.read('e', { mode: 'bytes', offset: 65_500, limit: 33 });
        expect(edge).toMatchObject({ text: 'x'.repeat(30) + 'é', nextByteOffset: 65_532 });
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

    describe('storage', () => {
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

      it('does not interleave concurrent appends, which land in call order', async () => {
        await Promise.all([log.append('e', lines('a1', 'a2', 'a3')), log.append('e', lines('b1', 'b2'))]);
        const p = await log.read('e', { mode: 'lines', offset: 0, limit: 10 });
        expect(p.text).toBe('a1\na2\na3\nb1\nb2\n');
      });

      it('keeps output for a new instance (a restart), which continues the indexes', async () => {
        await log.append('e', lines('é1', 'line2'));
        const other = await handle.reopen();
        await other.append('e', lines('😀3'));
        const p = await other.read('e', { mode: 'lines', offset: 0, limit: 10 });
        expect(p.text).toBe('é1\nline2\n😀3\n');
        expect(p.lines.map((l) => l.index)).toEqual([0, 1, 2]);
        expect(p.totalBytes).toBe(4 + 6 + 6);
        const tail = await other.read('e', { mode: 'bytes', offset: 10, limit: 100 });
        expect(tail).toMatchObject({ text: '😀3\n', lineOffset: 2, nextLineOffset: 3 });
      });

      it('reads the end of 100k lines, also from a fresh instance', async () => {
        const batch = Array.from({ length: 1000 }, (_, i) => ({ level: 'log' as const, text: `l${i} é` }));
        for (let i = 0; i < 100; i++) await log.append('big', batch);
        await log.append('small', lines('x'));
        const fresh = await handle.reopen();
        const byLines = await fresh.read('big', { mode: 'lines', offset: 99_998, limit: 10 });
        expect(byLines).toMatchObject({ text: 'l998 é\nl999 é\n', totalLines: 100_000, hasMore: false });
        const end = byLines.totalBytes;
        const byBytes = await fresh.read('big', { mode: 'bytes', offset: end - 8, limit: 100 });
        expect(byBytes).toMatchObject({ text: 'l999 é\n', lineOffset: 99_999, nextLineOffset: 100_000 });
        const middle = await fresh.read('big', { mode: 'lines', offset: 54_321, limit: 3 });
        expect(middle.lines).toEqual([
          { level: 'log', text: 'l321 é', index: 54_321 },
          { level: 'log', text: 'l322 é', index: 54_322 },
          { level: 'log', text: 'l323 é', index: 54_323 },
        ]);
        expect(await fresh.read('small', { mode: 'lines', offset: 0, limit: 10 })).toMatchObject({
          text: 'x\n',
          totalLines: 1,
        });
      });
    });
  });
}
