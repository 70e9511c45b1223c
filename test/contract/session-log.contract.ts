// The behaviour every SessionLog must have: SqliteSessionLog in the unit suite, KvSessionLog
// against the real NATS server in the integration suite. Index assignment (also under
// concurrent appends and from two instances), independent sessions, listing and paging.
import { beforeEach, describe, expect, it } from 'vitest';
import type { SessionLog, SessionLogEntry } from '../../src/core/session-log.ts';

export interface SessionLogHandle {
  log: SessionLog;
  /** A second instance over the same storage (another connection, process or node). */
  other(): Promise<SessionLog>;
}

export const heap = (n: number): string => n.toString(16).padStart(64, '0');

export function cell(n: number): Omit<SessionLogEntry, 'index'> {
  return {
    inputHeap: n === 0 ? null : heap(n - 1),
    outputHeap: heap(n),
    code: `x = ${n}; 'quote\\' 100% ✓ 𝄞'`,
    timestamp: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}.000Z`,
  };
}

/** `open` gives each test fresh, empty storage. */
export function sessionLogContract(name: string, open: () => Promise<SessionLogHandle>): void {
  describe(`SessionLog contract: ${name}`, () => {
    let handle: SessionLogHandle;
    let log: SessionLog;
    beforeEach(async () => {
      handle = await open();
      log = handle.log;
    });

    describe('append', () => {
      it('numbers cells 0, 1, 2 and returns them as stored', async () => {
        const first = await log.append('s', cell(0));
        const second = await log.append('s', cell(1));
        const third = await log.append('s', cell(2));
        expect(first).toEqual({ index: 0, ...cell(0) });
        expect(second).toEqual({ index: 1, ...cell(1) });
        expect(third.index).toBe(2);
        expect(await log.list('s', { offset: 0, limit: 10 })).toEqual([first, second, third]);
      });

      it('gives 50 concurrent appends the indexes 0–49 without gaps or repeats', async () => {
        const entries = await Promise.all(Array.from({ length: 50 }, (_, n) => log.append('s', cell(n))));
        expect(entries.map((e) => e.index).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 50 }, (_, i) => i),
        );
        const listed = await log.list('s', { offset: 0, limit: 100 });
        expect(listed.map((e) => e.index)).toEqual(Array.from({ length: 50 }, (_, i) => i));
        // Each cell is stored under the index its append returned.
        for (const e of entries) expect(listed[e.index]).toEqual(e);
      });

      it('keeps indexes consecutive across two instances on the same storage', async () => {
        const log2 = await handle.other();
        const indexes: number[] = [];
        for (let n = 0; n < 10; n++)
          indexes.push((await (n % 2 === 0 ? log : log2).append('s', cell(n))).index);
        expect(indexes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect((await log2.list('s', { offset: 0, limit: 20 })).map((e) => e.outputHeap)).toEqual(
          Array.from({ length: 10 }, (_, n) => heap(n)),
        );
      });

      it('numbers each session independently', async () => {
        await log.append('a', cell(0));
        await log.append('a', cell(1));
        expect((await log.append('b', cell(5))).index).toBe(0);
        expect((await log.append('a', cell(2))).index).toBe(2);
        expect((await log.list('b', { offset: 0, limit: 10 })).map((e) => e.outputHeap)).toEqual([heap(5)]);
      });
    });

    describe('listing', () => {
      it('lists session names sorted, once each', async () => {
        expect(await log.listSessions()).toEqual([]);
        for (const s of ['zeta', 'Alpha', 'beta', 'zeta', 'sess ✓']) await log.append(s, cell(0));
        expect(await log.listSessions()).toEqual(['Alpha', 'beta', 'sess ✓', 'zeta']);
      });

      it('pages by index', async () => {
        for (let n = 0; n < 7; n++) await log.append('s', cell(n));
        const page = async (offset: number, limit: number) =>
          (await log.list('s', { offset, limit })).map((e) => e.index);
        expect(await page(0, 3)).toEqual([0, 1, 2]);
        expect(await page(3, 3)).toEqual([3, 4, 5]);
        expect(await page(6, 3)).toEqual([6]);
        expect(await page(7, 3)).toEqual([]);
      });

      it('answers an unknown session with no entries', async () => {
        await log.append('s', cell(0));
        expect(await log.list('other', { offset: 0, limit: 10 })).toEqual([]);
      });
    });
  });
}
