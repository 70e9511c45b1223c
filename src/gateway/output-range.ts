/**
 * Turns the output paging arguments of a call (line mode: line_offset + line_limit; byte mode:
 * byte_offset + byte_limit) into an OutputRange, with errors an agent can act on.
 */
import { Mcpv8Error, PAGE_MAX_LINES, type OutputRange } from '../core/index.ts';

/** Most lines a page carries (also what ends a byte page of short lines early). */
export const MAX_LINE_LIMIT = PAGE_MAX_LINES;
export const MAX_BYTE_LIMIT = 1 << 20;
export const DEFAULT_LINE_LIMIT = 100;

export interface OutputRangeArgs {
  line_offset?: number;
  line_limit?: number;
  byte_offset?: number;
  byte_limit?: number;
}

/** @throws MCPV8_ERR_INPUT_INVALID */
export function toOutputRange(args: OutputRangeArgs): OutputRange {
  const byteMode = args.byte_offset !== undefined || args.byte_limit !== undefined;
  const lineMode = args.line_offset !== undefined || args.line_limit !== undefined;
  if (byteMode && lineMode) {
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      'use either line_offset/line_limit or byte_offset/byte_limit, not both',
    ]);
  }
  if (byteMode) {
    return {
      mode: 'bytes',
      offset: requireInteger('byte_offset', args.byte_offset ?? 0, 0, Number.MAX_SAFE_INTEGER),
      limit: requireInteger('byte_limit', args.byte_limit ?? 65_536, 1, MAX_BYTE_LIMIT),
    };
  }
  return {
    mode: 'lines',
    offset: requireInteger('line_offset', args.line_offset ?? 0, 0, Number.MAX_SAFE_INTEGER),
    limit: requireInteger('line_limit', args.line_limit ?? DEFAULT_LINE_LIMIT, 1, MAX_LINE_LIMIT),
  };
}

/**
 * `value` as an integer in [min, max]; used for every integer argument of the API.
 * @throws MCPV8_ERR_INPUT_INVALID naming the argument and quoting the value.
 */
export function requireInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    // Quoted short: the value is the caller's and may be huge.
    const got = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value).slice(0, 40);
    throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [
      `${name} must be an integer from ${min} to ${max}, got ${got}`,
    ]);
  }
  return value;
}
