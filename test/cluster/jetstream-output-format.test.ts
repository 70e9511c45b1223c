// The longest line the JetStream output log stores follows from its layout: one line is one
// atomic batch, bounded in messages (the server's 1000) and bytes. These run without a server.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_OUTPUT_LAYOUT,
  maxLineBytes,
  outputSubjects,
  planBatch,
  type OutputLayout,
} from '../../src/cluster/jetstream-output-format.ts';
import { toUnits } from '../../src/cluster/jetstream-output-writer.ts';
import { isMcpv8Error } from '../../src/core/errors.ts';

const layout = (over: Partial<OutputLayout>): OutputLayout => ({ ...DEFAULT_OUTPUT_LAYOUT, ...over });
const SMALL = layout({ chunkBytes: 64, chunkLines: 4, lineMarkEvery: 3, byteMarkEvery: 32 });

describe('maxLineBytes', () => {
  it('is the batch byte bound with the default layout', () => {
    expect(maxLineBytes(DEFAULT_OUTPUT_LAYOUT)).toBe(DEFAULT_OUTPUT_LAYOUT.batchBytes - 1);
  });

  it('is set by the message bound when chunks and marks are small', () => {
    const max = maxLineBytes(SMALL);
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThan(SMALL.batchBytes - 1);
    // The longest line, wherever the log stands, plans within one batch.
    for (const bytes of [0, 1, 31, 63, 1000]) {
      const plan = planBatch(
        { seq: 0, lines: 7, bytes },
        [{ level: 'log', bytes: Buffer.alloc(max, 0x78) }],
        outputSubjects('p.ns.id'),
        SMALL,
        'id',
      );
      expect(plan.messages.length).toBeLessThanOrEqual(SMALL.batchMessages);
    }
  });
});

describe('toUnits', () => {
  it('refuses a line longer than the layout stores, naming that length', () => {
    const max = maxLineBytes(SMALL);
    expect(toUnits([{ level: 'log', text: 'x'.repeat(max) }], max)).toHaveLength(1);
    let error: unknown;
    try {
      toUnits(
        [
          { level: 'log', text: 'ok' },
          { level: 'log', text: 'x'.repeat(max + 1) },
        ],
        max,
      );
    } catch (err) {
      error = err;
    }
    expect(isMcpv8Error(error, 'MCPV8_ERR_INPUT_INVALID')).toBe(true);
    expect((error as Error).message).toContain(`(${max})`);
  });
});
