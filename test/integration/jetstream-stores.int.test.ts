// The cluster stores against the real NATS JetStream server: the OutputLog, SessionLog and
// HeapTagStore contracts, plus what only a shared server shows — writers on separate
// connections, a client restart, subjects no user string can bend, and a read cost that does
// not grow with the output. Every run uses its own stream and buckets, so reruns never collide.
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { JS_ERR, publishAtomicBatch } from '../../src/cluster/jetstream-batch.ts';
import {
  DEFAULT_OUTPUT_LAYOUT,
  outputSubjects,
  planBatch,
} from '../../src/cluster/jetstream-output-format.ts';
import {
  JetStreamOutputLog,
  type JetStreamOutputLogOptions,
} from '../../src/cluster/jetstream-output-log.ts';
import { KvHeapTagStore } from '../../src/cluster/kv-heap-tags.ts';
import { KvSessionLog } from '../../src/cluster/kv-session-log.ts';
import { isMcpv8Error } from '../../src/core/errors.ts';
import type { OutputLine } from '../../src/core/execution-store.ts';
import { heapTagsContract } from '../contract/heap-tags.contract.ts';
import { lines, outputLogContract } from '../contract/output-log.contract.ts';
import { cell, sessionLogContract } from '../contract/session-log.contract.ts';

const nats = inject('services').nats!;
const run = randomBytes(4).toString('hex');
const STREAM = `OUTPUT_${run}`;
const PREFIX = `exec_${run}`;
const buckets: string[] = [];
const connections: NatsConnection[] = [];

async function connection(): Promise<NatsConnection> {
  const c = await connect({ servers: nats.url });
  connections.push(c);
  return c;
}
function bucket(kind: string): string {
  const name = `${kind}_${run}_${buckets.length}`;
  buckets.push(name);
  return name;
}

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connection();
});
afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.delete(`${STREAM}_SMALL`).catch(() => undefined);
  for (const b of buckets) await jsm.streams.delete(`KV_${b}`).catch(() => undefined);
  await Promise.all(connections.filter((c) => !c.isClosed()).map((c) => c.drain()));
});

let namespaces = 0;
const outputOptions = (extra: JetStreamOutputLogOptions = {}): JetStreamOutputLogOptions => ({
  stream: STREAM,
  subjectPrefix: PREFIX,
  namespace: `t${++namespaces}`,
  ...extra,
});

outputLogContract('JetStreamOutputLog', async () => {
  const opts = outputOptions();
  return {
    log: await JetStreamOutputLog.open(nc, opts),
    reopen: async () => JetStreamOutputLog.open(await connection(), opts),
  };
});

// Tiny chunks and dense marks: lines cut across chunks, chunks starting mid-line, marks on
// every few lines and bytes, appends spread over several batches. One line is one atomic batch
// (at most 1000 messages), so chunks and marks this small still hold the contract's 64 KiB line
// (maxLineBytes: 76,287 bytes); with 64-byte chunks and a mark every 32 bytes it would be 15,871.
const TINY = { chunkBytes: 256, chunkLines: 4, lineMarkEvery: 3, byteMarkEvery: 192 };
outputLogContract('JetStreamOutputLog (tiny chunks)', async () => {
  const opts = outputOptions({ stream: `${STREAM}_SMALL`, subjectPrefix: `${PREFIX}_small`, layout: TINY });
  return {
    log: await JetStreamOutputLog.open(nc, opts),
    reopen: async () => JetStreamOutputLog.open(await connection(), opts),
  };
});

sessionLogContract('KvSessionLog', async () => {
  const name = bucket('sessions');
  return {
    log: await KvSessionLog.open(nc, { bucket: name }),
    other: async () => KvSessionLog.open(await connection(), { bucket: name }),
  };
});

heapTagsContract('KvHeapTagStore', async () => KvHeapTagStore.open(nc, { bucket: bucket('tags') }));

describe('JetStreamOutputLog on a shared server', () => {
  it('never interleaves appends from writers on two connections', async () => {
    const opts = outputOptions();
    const writers = [
      await JetStreamOutputLog.open(nc, opts),
      await JetStreamOutputLog.open(await connection(), opts),
    ];
    const appendsOf = (w: number) =>
      Array.from({ length: 20 }, (_, a) =>
        writers[w]!.append(
          'shared',
          Array.from({ length: 5 }, (_, k) => ({ level: 'log' as const, text: `w${w} a${a} k${k} ✓` })),
        ),
      );
    await Promise.all([...appendsOf(0), ...appendsOf(1)]);
    const page = await writers[1]!.read('shared', { mode: 'lines', offset: 0, limit: 1000 });
    expect(page.totalLines).toBe(200);
    expect(page.totalBytes).toBe(Buffer.byteLength(page.text));
    const texts = page.lines.map((l) => l.text);
    expect(new Set(texts).size).toBe(200);
    for (let i = 0; i < 200; i += 5) {
      const group = texts.slice(i, i + 5);
      const prefix = group[0]!.replace(/ k0 ✓$/, '');
      expect(group).toEqual([0, 1, 2, 3, 4].map((k) => `${prefix} k${k} ✓`));
    }
    // Each writer's appends keep their call order.
    for (const w of [0, 1]) {
      const order = texts
        .filter((t) => t.startsWith(`w${w} `) && t.endsWith('k0 ✓'))
        .map((t) => Number(t.split(' ')[1]!.slice(1)));
      expect(order).toEqual(Array.from({ length: 20 }, (_, a) => a));
    }
  });

  it('refuses a batch sent again (as after a lost ack) instead of storing it twice', async () => {
    const opts = outputOptions();
    const log = await JetStreamOutputLog.open(nc, opts);
    const subjects = outputSubjects(`${PREFIX}.${opts.namespace}.resent`);
    const units = [{ level: 'log' as const, bytes: Buffer.from('once ✓') }];
    const plan = planBatch(
      { seq: 0, lines: 0, bytes: 0 },
      units,
      subjects,
      DEFAULT_OUTPUT_LAYOUT,
      'append-1',
    );
    await publishAtomicBatch(nc, plan.messages, 5000);
    await expect(publishAtomicBatch(nc, plan.messages, 5000)).rejects.toMatchObject({
      errCode: JS_ERR.DUPLICATE_MSG_ID,
    });
    // Planned on a stale tail with a new id: the compare-and-set refuses it.
    const stale = planBatch(
      { seq: 0, lines: 0, bytes: 0 },
      units,
      subjects,
      DEFAULT_OUTPUT_LAYOUT,
      'append-2',
    );
    await expect(publishAtomicBatch(nc, stale.messages, 5000)).rejects.toMatchObject({
      errCode: JS_ERR.WRONG_LAST_SEQUENCE,
    });
    await log.append('resent', lines('next'));
    expect(await log.read('resent', { mode: 'lines', offset: 0, limit: 10 })).toMatchObject({
      text: 'once ✓\nnext\n',
      totalLines: 2,
      totalBytes: 14,
    });
  });

  it('reads everything after the writing client is gone', async () => {
    const opts = outputOptions();
    const first = await connection();
    const writer = await JetStreamOutputLog.open(first, opts);
    await writer.append('exec-1', [
      { level: 'warn', text: 'before ✓' },
      { level: 'error', text: 'restart' },
    ]);
    await first.drain();
    const reader = await JetStreamOutputLog.open(await connection(), opts);
    expect(await reader.read('exec-1', { mode: 'lines', offset: 0, limit: 10 })).toMatchObject({
      text: 'before ✓\nrestart\n',
      lines: [
        { level: 'warn', text: 'before ✓', index: 0 },
        { level: 'error', text: 'restart', index: 1 },
      ],
      totalLines: 2,
    });
  });

  it('keeps ids and namespaces with dots and wildcards apart, in escaped subjects', async () => {
    const opts = outputOptions({ namespace: 'team.a>*' });
    const log = await JetStreamOutputLog.open(nc, opts);
    const ids = ['a.b', 'a_2Eb', 'a.*', 'a.>', '>', '*', 'ünï code'];
    for (const id of ids) await log.append(id, lines(`for ${id}`));
    await log.delete(['a.>', '*']);
    for (const id of ids) {
      const expected = id === 'a.>' || id === '*' ? '' : `for ${id}\n`;
      expect((await log.read(id, { mode: 'lines', offset: 0, limit: 5 })).text, id).toBe(expected);
    }
    const info = await (
      await jetstreamManager(nc)
    ).streams.info(STREAM, { subjects_filter: `${PREFIX}.team_2Ea_3E_2A.>` });
    const subjects = Object.keys(info.state.subjects ?? {});
    expect(subjects).toContain(`${PREFIX}.team_2Ea_3E_2A.a_2Eb.out`);
    expect(subjects).toContain(`${PREFIX}.team_2Ea_3E_2A.a_5F2Eb.out`);
    expect(subjects).toContain(`${PREFIX}.team_2Ea_3E_2A._C3_BCn_C3_AF_20code.out`);
    // <prefix>.<ns>.<id>.out[.…]: user strings stay inside their own token.
    for (const s of subjects)
      expect(s.split('.').slice(1, 4), s).toEqual(['team_2Ea_3E_2A', expect.any(String), 'out']);
    expect(subjects.filter((s) => s.endsWith('.out')).length).toBe(ids.length - 2);
    await expect(log.append('', lines('x'))).rejects.toSatisfy((e) =>
      isMcpv8Error(e, 'MCPV8_ERR_INPUT_INVALID'),
    );
  });

  it('stores a line longer than a chunk and an append larger than a batch, refusing a line too long', async () => {
    const log = await JetStreamOutputLog.open(nc, outputOptions());
    const big = 'é'.repeat(1_500_000); // 3 MB
    const append: OutputLine[] = [
      { level: 'log', text: 'head' },
      { level: 'log', text: big },
      { level: 'info', text: big },
      { level: 'log', text: 'tail' },
    ];
    await log.append('big', append);
    const all = await log.read('big', { mode: 'lines', offset: 0, limit: 10 });
    expect(all.lines.map((l) => [l.level, l.text.length])).toEqual([
      ['log', 4],
      ['log', 1_500_000],
      ['info', 1_500_000],
      ['log', 4],
    ]);
    expect(all.totalBytes).toBe(5 + 3_000_001 * 2 + 5);
    const inside = await log.read('big', { mode: 'bytes', offset: 5 + 3_000_001 + 1001, limit: 10 });
    expect(inside).toMatchObject({
      text: 'éééé',
      byteOffset: 5 + 3_000_001 + 1002,
      lineOffset: 2,
      nextLineOffset: 2,
    });
    // Only the part of the 3 MB line inside the 10-byte page.
    expect(inside.lines).toEqual([{ level: 'info', text: 'éééé', index: 2 }]);
    expect(inside.nextByteOffset).toBe(inside.byteOffset + 8);
    // A page deep inside the long line starts reading at the chunk holding it (to the line's
    // end, where its level is stored), not at the line's beginning 2 MB earlier: ~31 chunks of
    // 32 KiB rather than ~92.
    const before = log.readStats;
    const deep = await log.read('big', { mode: 'bytes', offset: 5 + 3_000_001 + 2_000_000, limit: 10 });
    expect(deep).toMatchObject({ text: 'ééééé', lineOffset: 2, nextLineOffset: 2 });
    expect(deep.lines).toEqual([{ level: 'info', text: 'ééééé', index: 2 }]);
    expect(log.readStats.messages - before.messages).toBeLessThan(40);
    // Refused whole: the short line before the long one is not stored either.
    await expect(log.append('big', lines('short', 'x'.repeat(5 * 1024 * 1024)))).rejects.toSatisfy((e) =>
      isMcpv8Error(e, 'MCPV8_ERR_INPUT_INVALID'),
    );
    expect(await log.read('big', { mode: 'lines', offset: 3, limit: 10 })).toMatchObject({
      text: 'tail\n',
      totalLines: 4,
    });
  });

  it('reads a page at the same cost whatever the size of the output', async () => {
    const log = await JetStreamOutputLog.open(nc, outputOptions());
    const write = async (id: string, total: number) => {
      for (let from = 0; from < total; from += 500) {
        await log.append(
          id,
          Array.from({ length: 500 }, (_, i) => ({
            level: 'log' as const,
            text: `line ${from + i} of ${id} — ✓`,
          })),
        );
      }
    };
    await write('small', 2_000);
    await write('large', 200_000);
    const costOfPages = async (id: string, totalLines: number) => {
      const costs: number[] = [];
      const p0 = await log.read(id, { mode: 'lines', offset: 0, limit: 1 });
      const totalBytes = p0.totalBytes;
      for (const at of [0, 0.37, 0.5, 0.99]) {
        for (const mode of ['lines', 'bytes'] as const) {
          const offset = Math.floor(at * (mode === 'lines' ? totalLines : totalBytes));
          const before = log.readStats;
          const page = await log.read(id, { mode, offset, limit: mode === 'lines' ? 100 : 4096 });
          const after = log.readStats;
          expect(page.totalLines).toBe(totalLines);
          expect(page.text.length).toBeGreaterThan(0);
          expect(after.requests - before.requests).toBeLessThanOrEqual(4);
          costs.push(after.messages - before.messages);
        }
      }
      return costs;
    };
    const small = await costOfPages('small', 2_000);
    const large = await costOfPages('large', 200_000);
    // Tail + mark + the chunks of the page (and at most a chunk before it).
    expect(Math.max(...small, ...large)).toBeLessThanOrEqual(5);
    expect(Math.max(...large)).toBeLessThanOrEqual(Math.max(...small) + 1);
  });
});

describe('KvSessionLog and KvHeapTagStore on a shared server', () => {
  it('numbers 50 appends racing from two connections 0–49', async () => {
    const name = bucket('sessions');
    const logs = [
      await KvSessionLog.open(nc, { bucket: name }),
      await KvSessionLog.open(await connection(), { bucket: name }),
    ];
    const entries = await Promise.all(
      Array.from({ length: 50 }, (_, n) => logs[n % 2]!.append('race', cell(n))),
    );
    expect(entries.map((e) => e.index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    const listed = await logs[0]!.list('race', { offset: 0, limit: 100 });
    for (const e of entries) expect(listed[e.index]).toEqual(e);
  });

  it('keeps sessions and tags across a client restart', async () => {
    const [sessions, tagsBucket] = [bucket('sessions'), bucket('tags')];
    const first = await connection();
    await (await KvSessionLog.open(first, { bucket: sessions })).append('sess ✓', cell(0));
    await (await KvHeapTagStore.open(first, { bucket: tagsBucket })).set('e'.repeat(64), { env: 'prod' });
    await first.drain();
    const second = await connection();
    const log = await KvSessionLog.open(second, { bucket: sessions });
    expect(await log.listSessions()).toEqual(['sess ✓']);
    expect((await log.append('sess ✓', cell(1))).index).toBe(1);
    const tags = await KvHeapTagStore.open(second, { bucket: tagsBucket });
    expect(await tags.query({ env: 'prod' }, 10)).toEqual([{ heap: 'e'.repeat(64), tags: { env: 'prod' } }]);
  });

  it('keeps the tag index exact under concurrent changes of one heap from two connections', async () => {
    const name = bucket('tags');
    const stores = [
      await KvHeapTagStore.open(nc, { bucket: name }),
      await KvHeapTagStore.open(await connection(), { bucket: name }),
    ];
    const H = 'f'.repeat(64);
    await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        n % 3 === 2
          ? stores[n % 2]!.delete(H, ['k1'])
          : stores[n % 2]!.set(H, { k1: `v${n % 4}`, k2: `w${n}` }),
      ),
    );
    const final = await stores[0]!.get(H);
    // Every pair the index knows is a pair the heap has, and the other way round.
    for (const v of ['v0', 'v1', 'v2', 'v3']) {
      const hits = await stores[1]!.query({ k1: v }, 10);
      expect(hits, v).toEqual(final.k1 === v ? [{ heap: H, tags: final }] : []);
    }
    for (let n = 0; n < 30; n++) {
      const hits = await stores[1]!.query({ k2: `w${n}` }, 10);
      expect(hits.length, `w${n}`).toBe(final.k2 === `w${n}` ? 1 : 0);
    }
  });

  it('refuses invalid heap ids, session names and tags with stable codes', async () => {
    const tags = await KvHeapTagStore.open(nc, { bucket: bucket('tags') });
    await expect(tags.get('../x')).rejects.toSatisfy((e) => isMcpv8Error(e, 'MCPV8_ERR_HEAP_ID_INVALID'));
    await expect(tags.set('a'.repeat(64), { ['k'.repeat(200)]: 'v' })).rejects.toSatisfy((e) =>
      isMcpv8Error(e, 'MCPV8_ERR_INPUT_INVALID'),
    );
    const log = await KvSessionLog.open(nc, { bucket: bucket('sessions') });
    await expect(log.append('bad\nname', cell(0))).rejects.toSatisfy((e) =>
      isMcpv8Error(e, 'MCPV8_ERR_INPUT_INVALID'),
    );
  });
});
