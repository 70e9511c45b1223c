/**
 * What of the host must never reach a result, an error or the output of a cell: paths of the
 * checkout and of the server's temp dirs, node_modules and build/source trees, Node internals,
 * host stack frames (any `file.ts:line` / `file.js:line` that is not the cell's own `cell.js` /
 * `cell.ts` or a module downloaded over http(s)), and the server's environment (a canary value).
 */

export interface LeakContext {
  /** The server's temp root (data, heaps, sessions, log). */
  serverRoot: string;
  /** The value of MCPV8_CANARY_SECRET in the server's environment. */
  canary: string;
}

const FIXED_MARKERS = [
  '/work/',
  'node_modules',
  'dist/',
  'src/runner',
  'src/local',
  'src/gateway',
  'src/core',
  'src/cli',
  'node:internal',
  'isolated-vm',
];

// `.ext:line` of a frame; the token it ends is found by scanning back (a regex with a lazy
// prefix would be quadratic on the megabyte-long lines hostile cells print).
const FRAME_END = /\.(?:[cm]?[jt]s):\d+/g;
const TOKEN_START = /[\s()'"`]/;
const MAX_TOKEN = 1000;
const CELL_FILES = new Set(['cell.js', 'cell.ts']);

/** Every host leak found in `text` (empty: none). */
export function hostLeaks(text: string, ctx: LeakContext): string[] {
  const found: string[] = [];
  const markers = [...FIXED_MARKERS, process.cwd(), ctx.serverRoot, ctx.canary];
  for (const m of markers) {
    const at = text.indexOf(m);
    if (at >= 0) found.push(`"${m}" in …${text.slice(Math.max(0, at - 60), at + m.length + 60)}…`);
  }
  for (const match of text.matchAll(FRAME_END)) {
    const end = match.index + match[0].length;
    let start = match.index;
    while (start > 0 && match.index - start < MAX_TOKEN && !TOKEN_START.test(text[start - 1]!)) start--;
    const token = text.slice(start, end);
    if (CELL_FILES.has(token.slice(0, token.lastIndexOf(':')))) continue;
    if (/^https?:\/\//.test(token)) continue;
    found.push(`host frame "${token}"`);
    if (found.length > 20) break;
  }
  return found;
}
