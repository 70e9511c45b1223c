// The behaviour every ExecutionStore must have: SqliteExecutionStore in the unit suite,
// KubeExecutionStore (Execution custom resources) in the integration suite. CRUD,
// compare-and-set transitions, newest-first paging with cursors, unfinished records, retention.
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ExecutionOutcome } from '../../src/core/api/execution.ts';
import type { ExecutionRecord, ExecutionStore } from '../../src/core/execution-store.ts';
import { LIST_PAGE_MAX_BYTES } from '../../src/core/list-page.ts';
import { MAX_CELL_CHARS } from '../../src/runner/protocol.ts';

/** The namespaces the suite uses, by logical name; a fixture maps each to a real one. */
export const CONTRACT_NAMESPACES = ['default', 'other', 'ns-a', 'ns-b', 'ns-c', 'x'] as const;
export type ContractNamespace = (typeof CONTRACT_NAMESPACES)[number];

/** A store on empty storage, for one test. */
export interface ExecutionStoreFixture {
  store: ExecutionStore;
  /** The real namespace a logical one stands for (distinct names, distinct namespaces). */
  namespace(name: ContractNamespace): string;
  /** Releases the storage when the test ends. */
  dispose?(): Promise<void>;
}

export interface ExecutionStoreContractOptions {
  /**
   * The outcome the store gives back for a record it was given (default: the outcome as is). A
   * store that keeps a summary (an Execution's status: bounded result, no stack) says what.
   */
  storedOutcome?: (record: ExecutionRecord) => ExecutionOutcome | undefined;
  /**
   * Longest code the store keeps, in characters (default: the largest cell a gateway takes). An
   * Execution object keeps less (its CRD's bound), and refuses more at create.
   */
  maxCodeChars?: number;
}

const outcome = {
  status: 'completed',
  result: '2',
  resultType: 'number',
  effectiveHeapMb: 32,
  durationMs: 3,
  outputBytes: 0,
  outputTruncated: false,
} as const;

type RecordOverrides = Partial<Omit<ExecutionRecord, 'namespace'>> & { ns?: ContractNamespace };

export function executionStoreContract(
  name: string,
  makeFixture: () => Promise<ExecutionStoreFixture>,
  opts: ExecutionStoreContractOptions = {},
): void {
  async function setup() {
    const fixture = await makeFixture();
    if (fixture.dispose) onTestFinished(() => fixture.dispose!());
    const ns = (n: ContractNamespace = 'default') => fixture.namespace(n);
    const record = (id: string, { ns: n, ...over }: RecordOverrides = {}): ExecutionRecord => ({
      id,
      status: 'queued',
      code: `console.log(${JSON.stringify(id)})`,
      language: 'javascript',
      limits: { heapMemoryMaxMb: 32, timeoutSeconds: 10 },
      namespace: ns(n),
      createdAt: '2026-01-01T00:00:00.000Z',
      ...over,
    });
    /** What reading `r` back gives: the record, with the outcome as the store keeps it. */
    const stored = (r: ExecutionRecord): ExecutionRecord =>
      r.outcome === undefined || opts.storedOutcome === undefined
        ? r
        : { ...r, outcome: opts.storedOutcome(r)! };
    return { store: fixture.store, ns, record, stored };
  }

  describe(`ExecutionStore contract: ${name}`, () => {
    describe('CRUD', () => {
      it('creates and gets a record as given', async () => {
        const { store, ns, record } = await setup();
        const r = record('a');
        await store.create(r);
        expect(await store.get(ns(), 'a')).toStrictEqual(r);
        expect(await store.get(ns('other'), 'a')).toBeUndefined();
        expect(await store.get(ns(), 'missing')).toBeUndefined();
      });

      it('keeps the stateful fields and a millisecond creation time', async () => {
        const { store, ns, record } = await setup();
        const r = record('s', {
          heap: 'a'.repeat(64),
          session: 'demo',
          tags: { team: 'core', 'build id': '42' },
          language: 'typescript',
          createdAt: '2026-01-01T00:00:00.123Z',
        });
        await store.create(r);
        expect(await store.get(ns(), 's')).toStrictEqual(r);
      });

      it('throws on a duplicate id and keeps the first record', async () => {
        const { store, ns, record } = await setup();
        await store.create(record('a'));
        await expect(store.create(record('a', { code: 'other' }))).rejects.toThrow();
        expect((await store.get(ns(), 'a'))?.code).toBe('console.log("a")');
      });

      it('honours an aborted signal', async () => {
        const { store, ns, record } = await setup();
        const aborted = AbortSignal.abort();
        await expect(store.get(ns(), 'a', aborted)).rejects.toThrow();
        await expect(store.create(record('b'), aborted)).rejects.toThrow();
        await expect(store.transition(ns(), 'a', ['queued'], {}, aborted)).rejects.toThrow();
        await expect(store.list({ namespace: ns(), limit: 1 }, aborted)).rejects.toThrow();
        await expect(store.listUnfinished(aborted)).rejects.toThrow();
        await expect(store.deleteCompletedBefore('2026-01-01T00:00:00.000Z', aborted)).rejects.toThrow();
        expect(await store.get(ns(), 'b')).toBeUndefined();
      });
    });

    describe('transition', () => {
      it('applies a patch when the status matches', async () => {
        const { store, ns, record, stored } = await setup();
        await store.create(record('a'));
        const running = await store.transition(ns(), 'a', ['queued'], {
          status: 'running',
          startedAt: '2026-01-01T00:00:01.000Z',
        });
        expect(running).toMatchObject({ status: 'running', startedAt: '2026-01-01T00:00:01.000Z' });
        const done = await store.transition(ns(), 'a', ['running'], {
          status: 'completed',
          completedAt: '2026-01-01T00:00:02.000Z',
          outcome,
        });
        expect(done).toStrictEqual(
          stored({
            ...record('a'),
            status: 'completed',
            startedAt: '2026-01-01T00:00:01.000Z',
            completedAt: '2026-01-01T00:00:02.000Z',
            outcome,
          }),
        );
        expect(await store.get(ns(), 'a')).toStrictEqual(done);
      });

      it('records a failure with its reason and error', async () => {
        const { store, ns, record, stored } = await setup();
        await store.create(record('f', { status: 'running', startedAt: '2026-01-01T00:00:01.000Z' }));
        const failed: ExecutionOutcome = {
          status: 'failed',
          error: { reason: 'Error', name: 'TypeError', message: 'x is not a function' },
          effectiveHeapMb: 32,
          durationMs: 2000,
          outputBytes: 12,
          outputTruncated: false,
        };
        const done = await store.transition(ns(), 'f', ['running'], {
          status: 'failed',
          completedAt: '2026-01-01T00:00:03.000Z',
          outcome: failed,
        });
        const want = stored({
          ...record('f', { status: 'failed', startedAt: '2026-01-01T00:00:01.000Z' }),
          completedAt: '2026-01-01T00:00:03.000Z',
          outcome: failed,
        });
        expect(done).toStrictEqual(want);
        expect(done?.outcome?.error).toMatchObject({ reason: 'Error', name: 'TypeError' });
        expect(await store.get(ns(), 'f')).toStrictEqual(want);
      });

      it('leaves a cancelled record cancelled when a late report expects running', async () => {
        const { store, ns, record } = await setup();
        await store.create(record('a', { status: 'running' }));
        await store.transition(ns(), 'a', ['queued', 'running'], { status: 'cancelled' });
        const late = await store.transition(ns(), 'a', ['running'], { status: 'completed', outcome });
        expect(late).toBeUndefined();
        const now = await store.get(ns(), 'a');
        expect(now?.status).toBe('cancelled');
        expect(now?.outcome).toBeUndefined();
      });

      it('returns undefined for a missing record, another namespace or an empty `from`', async () => {
        const { store, ns, record } = await setup();
        await store.create(record('a'));
        expect(await store.transition(ns(), 'nope', ['queued'], { status: 'running' })).toBeUndefined();
        expect(await store.transition(ns('other'), 'a', ['queued'], { status: 'running' })).toBeUndefined();
        expect(await store.transition(ns(), 'a', [], { status: 'running' })).toBeUndefined();
        expect(await store.transition(ns(), 'a', ['queued'], {})).toStrictEqual(record('a'));
      });
    });

    describe('list', () => {
      const ts = (i: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
      const pad = (i: number) => String(i).padStart(3, '0');

      async function seed({ store, record }: Awaited<ReturnType<typeof setup>>): Promise<void> {
        // 250 per namespace; pairs share a timestamp so the id tie-break is exercised. Created a
        // batch at a time, in no particular order: the order must come from the store.
        const all: ExecutionRecord[] = [];
        for (let i = 0; i < 250; i++) {
          const createdAt = ts(Math.floor(i / 2));
          const status = i % 3 === 0 ? 'completed' : 'queued';
          all.push(record(`a-${pad(i)}`, { ns: 'ns-a', createdAt, status }));
          all.push(record(`b-${pad(i)}`, { ns: 'ns-b', createdAt, status }));
        }
        for (let i = 0; i < all.length; i += 20)
          await Promise.all(all.slice(i, i + 20).map((r) => store.create(r)));
      }

      async function all(
        store: ExecutionStore,
        namespace: string,
        limit: number,
        status?: 'completed',
      ): Promise<ExecutionRecord[]> {
        const out: ExecutionRecord[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list({ namespace, limit, cursor, status });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          out.push(...page.items);
          cursor = page.nextCursor;
          pages += 1;
        } while (cursor !== undefined);
        expect(pages).toBe(Math.max(1, Math.ceil(out.length / limit)));
        return out;
      }

      it('pages newest first with cursors, per namespace', async () => {
        const s = await setup();
        await seed(s);
        for (const logical of ['ns-a', 'ns-b'] as const) {
          const prefix = logical.slice(-1);
          for (const limit of [1, 7, 100, 250, 1000]) {
            const items = await all(s.store, s.ns(logical), limit);
            expect(items).toHaveLength(250);
            expect(items.every((r) => r.namespace === s.ns(logical) && r.id.startsWith(`${prefix}-`))).toBe(
              true,
            );
            const expected = Array.from({ length: 250 }, (_, i) => `${prefix}-${pad(249 - i)}`);
            expect(items.map((r) => r.id)).toEqual(expected);
          }
        }
        expect(await s.store.list({ namespace: s.ns('ns-c'), limit: 10 })).toEqual({ items: [] });
      });

      it('filters by status', async () => {
        const s = await setup();
        await seed(s);
        const items = await all(s.store, s.ns('ns-a'), 30, 'completed');
        expect(items).toHaveLength(84);
        expect(items.every((r) => r.status === 'completed' && r.namespace === s.ns('ns-a'))).toBe(true);
        const expected = Array.from({ length: 250 }, (_, i) => 249 - i)
          .filter((i) => i % 3 === 0)
          .map((i) => `a-${pad(i)}`);
        expect(items.map((r) => r.id)).toEqual(expected);
      });

      it('neither repeats nor skips a record when records are added between pages', async () => {
        const { store, ns, record } = await setup();
        for (let i = 0; i < 6; i++) await store.create(record(`r-${i}`, { createdAt: ts(i) }));
        const first = await store.list({ namespace: ns(), limit: 3 });
        expect(first.items.map((r) => r.id)).toEqual(['r-5', 'r-4', 'r-3']);
        await store.create(record('r-new', { createdAt: ts(100) }));
        const second = await store.list({ namespace: ns(), limit: 3, cursor: first.nextCursor });
        expect(second.items.map((r) => r.id)).toEqual(['r-2', 'r-1', 'r-0']);
        expect(second.nextCursor).toBeUndefined();
      });

      it('keeps a page within LIST_PAGE_MAX_BYTES however large its records, and pages through them', async () => {
        const { store, ns, record } = await setup();
        // Records as large as the store keeps, of 2-byte characters (the budget is UTF-8 bytes,
        // not characters), and enough of them for at least two full pages.
        const chars = Math.min(opts.maxCodeChars ?? MAX_CELL_CHARS, MAX_CELL_CHARS) - 8;
        const count = Math.max(12, Math.ceil((2.5 * LIST_PAGE_MAX_BYTES) / (2 * chars)));
        const code = (i: number) => `${'é'.repeat(chars)}${i}`;
        for (let i = 0; i < count; i++)
          await store.create(record(`big-${i}`, { createdAt: ts(i), code: code(i) }));
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list({ namespace: ns(), limit: 1000, cursor });
          pages += 1;
          const bytes = page.items.reduce((n, r) => n + Buffer.byteLength(JSON.stringify(r)), 0);
          // The budget counts each record's stored JSON, a little smaller than the whole record.
          if (page.items.length > 1)
            expect(bytes).toBeLessThanOrEqual(LIST_PAGE_MAX_BYTES + 1024 * page.items.length);
          seen.push(...page.items.map((r) => r.id));
          cursor = page.nextCursor;
        } while (cursor !== undefined && pages < 50);
        expect(pages).toBeGreaterThan(2);
        expect(seen).toEqual(Array.from({ length: count }, (_, i) => `big-${count - 1 - i}`));
        // A status filter pages the same way.
        const queued = await store.list({ namespace: ns(), status: 'queued', limit: 1000 });
        expect(queued.items.length).toBeLessThan(count);
        expect(queued.items.map((r) => r.id)).toEqual(seen.slice(0, queued.items.length));
        expect(queued.nextCursor).toBeDefined();
      });

      it('validates limit and cursor', async () => {
        const { store, ns } = await setup();
        const invalid = { code: 'MCPV8_ERR_INPUT_INVALID' };
        for (const limit of [0, 1001, 1.5, -1, Number.NaN, 1e12, 2 ** 53 + 2]) {
          await expect(store.list({ namespace: ns(), limit })).rejects.toMatchObject(invalid);
        }
        const junk = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
        for (const cursor of [
          'garbage!',
          'zzz',
          '',
          'x'.repeat(10_000),
          junk({ a: 1 }),
          junk(['not a time', 'id']),
          junk([12, '']),
          junk(['2026-01-01T00:00:00.000Z', 'r-1', 'extra']),
        ]) {
          await expect(store.list({ namespace: ns(), limit: 10, cursor })).rejects.toMatchObject(invalid);
        }
      });
    });

    describe('unfinished and retention', () => {
      it('lists unfinished records of every namespace', async () => {
        const { store, record } = await setup();
        await store.create(record('q', { status: 'queued', ns: 'x' }));
        await store.create(record('r', { status: 'running' }));
        await store.create(record('c', { status: 'completed', completedAt: '2026-01-01T00:00:05.000Z' }));
        expect((await store.listUnfinished()).map((r) => r.id).sort()).toEqual(['q', 'r']);
      });

      it('deletes terminal records completed before a time and returns their ids', async () => {
        const { store, ns, record } = await setup();
        await store.create(record('old', { status: 'failed', completedAt: '2026-01-01T00:00:00.000Z' }));
        await store.create(record('new', { status: 'completed', completedAt: '2026-01-03T00:00:00.000Z' }));
        await store.create(record('live', { status: 'running' }));
        expect(await store.deleteCompletedBefore('2026-01-02T00:00:00.000Z')).toEqual(['old']);
        expect(await store.get(ns(), 'old')).toBeUndefined();
        expect(await store.get(ns(), 'new')).toBeDefined();
        expect(await store.get(ns(), 'live')).toBeDefined();
        expect(await store.deleteCompletedBefore('2026-01-02T00:00:00.000Z')).toEqual([]);
      });

      it('deletes by completion time once a transition ends a record', async () => {
        const { store, ns, record } = await setup();
        await store.create(record('t', { status: 'running' }));
        await store.transition(ns(), 't', ['running'], {
          status: 'timed_out',
          completedAt: '2026-01-01T00:00:30.000Z',
        });
        expect(await store.deleteCompletedBefore('2026-01-01T00:00:30.000Z')).toEqual([]);
        expect(await store.deleteCompletedBefore('2026-01-01T00:00:30.001Z')).toEqual(['t']);
        expect(await store.listUnfinished()).toEqual([]);
      });
    });
  });
}
