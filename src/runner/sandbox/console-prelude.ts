/**
 * The cell's `console` and the output channel behind it. A record after 20 ms without output goes
 * to the host at once; records in quick succession are buffered and handed over in batches, one
 * synchronous host call per batch rather than per record: at the end of the current microtask
 * turn, at 16K characters, every 20 ms of a busy loop that keeps printing, before the cell's
 * report, and when the host drains a cell it stops. Every record costs its
 * length plus its newline against the output cap, so empty lines reach the cap like any other.
 *
 * {@link createConsole} is serialised with `Function.prototype.toString` into the prelude, so it
 * must be self-contained: no imports, no references to module scope. It runs before any user
 * code, and captures every intrinsic it uses after that.
 */
import type { Inspector } from './inspector.ts';

export interface ConsoleDeps {
  /** The host's output callback: one level, one or more records joined by `\n`. */
  emit: (level: string, text: string) => void;
  /** The cell's clock (journaled), for `console.time`. */
  now: () => number;
  inspector: Inspector;
  /** Past this many characters (records plus newlines) a cell's output is dropped… */
  maxOutputBytes: number;
  /** …and past this many records (the host counts lines too). */
  maxOutputLines: number;
}

export interface ConsoleOutput {
  console: Record<string, (...args: unknown[]) => void>;
  /** Adds one record (a non-string is replaced by a placeholder). */
  write: (level: string, text: unknown) => void;
  /** Hands what is buffered to the host now. */
  flush: () => void;
  /** A new cell of the session: a fresh output budget. */
  reset: () => void;
}

export function createConsole(deps: ConsoleDeps): ConsoleOutput {
  const { emit, now, inspector, maxOutputBytes, maxOutputLines } = deps;
  type Fn = (...args: unknown[]) => unknown;
  const apply = Reflect.apply;
  const method = (o: object, key: string): Fn => Object.getOwnPropertyDescriptor(o, key)!.value as Fn;
  const realNow = method(Date, 'now');
  const strSlice = method(String.prototype, 'slice');
  const strIndexOf = method(String.prototype, 'indexOf');
  const strRepeat = method(String.prototype, 'repeat');
  const MAX_GROUP_DEPTH = 64;
  /** `s` with `indent` after every newline. */
  const indentLines = (s: string, ind: string): string => {
    let out = '';
    let from = 0;
    for (;;) {
      const at = apply(strIndexOf, s, ['\n', from]) as number;
      if (at < 0) return out + (apply(strSlice, s, [from]) as string);
      out += (apply(strSlice, s, [from, at + 1]) as string) + ind;
      from = at + 1;
    }
  };

  let outputBytes = 0;
  let records = 0;
  let depth = 0;
  let batchLevel = '';
  let batch = '';
  /** When output last went to the host (V8's own clock: it decides batching, never a value). */
  let lastFlushAt = 0;
  let flushQueued = false;
  const flush = () => {
    if (batchLevel === '') return;
    lastFlushAt = realNow() as number;
    const level = batchLevel;
    const text = batch;
    batchLevel = '';
    batch = '';
    emit(level, text);
  };
  // `await undefined` queues the flush behind the current turn with V8's own promise machinery:
  // no property of Promise that user code could replace is consulted.
  const flushSoon = async () => {
    // eslint-disable-next-line @typescript-eslint/await-thenable -- on purpose: see above
    await undefined;
    flushQueued = false;
    flush();
  };
  const write = (level: string, text: unknown) => {
    if (outputBytes > maxOutputBytes || records > maxOutputLines) return;
    records++;
    let line = typeof text === 'string' ? text : '[unprintable]';
    if (depth > 0) {
      const indent = apply(strRepeat, '  ', [depth]) as string;
      line = indent + indentLines(line, indent);
    }
    // Past the cap nothing more is taken, so a huge record need not cross whole.
    const room = maxOutputBytes - outputBytes + 1;
    if (line.length > room) line = apply(strSlice, line, [0, room]) as string;
    outputBytes += line.length + 1;
    if (batchLevel !== level) {
      flush();
      batchLevel = level;
      batch = line;
    } else {
      batch += '\n' + line;
    }
    // The first record after a quiet spell goes at once (a cell that prints and then computes for
    // long shows it); records in quick succession wait for the end of the turn, 16K characters,
    // or 20 ms.
    if (batch.length >= 16384 || (realNow() as number) - lastFlushAt >= 20) flush();
    else if (!flushQueued) {
      flushQueued = true;
      void flushSoon();
    }
  };

  const fmt = (args: unknown[]) => inspector.format(args);
  const counts = new Map<string, number>();
  const timers = new Map<string, number>();
  const label = (l: unknown) =>
    l === undefined ? 'default' : typeof l === 'string' ? l : inspector.inspect(l);
  const console = {
    log: (...a: unknown[]) => write('log', fmt(a)),
    info: (...a: unknown[]) => write('info', fmt(a)),
    debug: (...a: unknown[]) => write('debug', fmt(a)),
    warn: (...a: unknown[]) => write('warn', fmt(a)),
    error: (...a: unknown[]) => write('error', fmt(a)),
    trace: (...a: unknown[]) => {
      const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
      write('error', `Trace${a.length ? ': ' + fmt(a) : ''}\n${stack}`);
    },
    dir: (v: unknown) => write('log', inspector.inspect(v)),
    dirxml: (...a: unknown[]) => write('log', fmt(a)),
    table: (...a: unknown[]) => write('log', fmt(a)),
    assert: (cond: unknown, ...a: unknown[]) => {
      if (!cond) write('error', a.length ? `Assertion failed: ${fmt(a)}` : 'Assertion failed');
    },
    count: (l?: unknown) => {
      const k = label(l);
      const n = (counts.get(k) ?? 0) + 1;
      counts.set(k, n);
      write('log', `${k}: ${n}`);
    },
    countReset: (l?: unknown) => void counts.delete(label(l)),
    group: (...a: unknown[]) => {
      if (a.length) write('log', fmt(a));
      // Deeper groups print at the deepest indent: a flood of them must not grow every line.
      if (depth < MAX_GROUP_DEPTH) depth++;
    },
    groupCollapsed: (...a: unknown[]) => console.group(...a),
    groupEnd: () => {
      if (depth > 0) depth--;
    },
    time: (l?: unknown) => void timers.set(label(l), now()),
    timeLog: (l?: unknown, ...a: unknown[]) => {
      const t = timers.get(label(l));
      if (t === undefined) write('warn', `Warning: No such label '${label(l)}' for console.timeLog()`);
      else write('log', `${label(l)}: ${now() - t}ms${a.length ? ' ' + fmt(a) : ''}`);
    },
    timeEnd: (l?: unknown) => {
      console.timeLog(l);
      timers.delete(label(l));
    },
  };
  return {
    console,
    write,
    flush,
    reset: () => {
      outputBytes = 0;
      records = 0;
    },
  };
}
