/**
 * The code that runs inside every isolate before user code: console, timers, a deterministic
 * clock and PRNG fed by the host (so sessions can replay them), and `__mcpv8` (host imports,
 * result settling). The WebAssembly shims are installed per context (see wasm-prelude.ts).
 *
 * {@link installPrelude} is injected with `Function.prototype.toString`, so its body must be
 * self-contained: no imports, no references to module scope. Host capabilities arrive as
 * arguments (plain functions made from ivm.Callback, one ivm.Reference kept in this closure and
 * never exposed) and every value sent to the host is a string or number the host re-validates.
 */
import type { Inspector, InspectorOptions } from './inspector.ts';

/** Host capabilities handed to the prelude. */
export interface PreludeBridge {
  /** Fire-and-forget: one console record. */
  emit: (level: string, text: string) => void;
  /** Synchronous: the current time in ms (live or replayed). */
  now: () => number;
  /** Synchronous: the seed of Math.random, asked for on first use (live or replayed). */
  seed: () => number;
  /** Fire-and-forget: `set` or `clear` host timer `id` after `delayMs`. */
  timer: (op: string, id: number, delayMs: number) => void;
  /** An ivm.Reference to `async (op, payloadJson) => resultJson`, used through `.apply`. */
  hostCall: {
    apply(
      receiver: undefined,
      args: [string, string],
      opts: { arguments: { copy: true }; result: { promise: true; copy: true } },
    ): Promise<string>;
  };
}

export interface PreludeOptions {
  /** The prelude stops emitting console output past this many bytes (the host enforces it too). */
  maxOutputBytes: number;
  /** Result text longer than this is cut and flagged. */
  maxResultBytes: number;
  /** At most this many timers may be pending at once. */
  maxTimers: number;
  /** Largest WebAssembly memory, in 64 KiB pages. */
  maxWasmPages: number;
  /** Host capabilities offered to user code, e.g. `fetch`, `fs` (each needs its policy). */
  capabilities?: readonly string[];
  inspector: InspectorOptions;
}

/** What the prelude gives back to the host (through an ivm.Reference). */
export interface PreludeApi {
  /** Runs timer `id`; returns an error JSON when its callback threw. */
  fire(id: number): string | undefined;
  /** Error JSON of the first uncaught error (timer or microtask), if any. */
  uncaught(): string | undefined;
  /** Makes a module namespace loaded by the host available to `__mcpv8.import`. */
  registerNamespace(key: string, ns: unknown): void;
  /** Starts the next cell of a session: per-cell output budget and uncaught error reset. */
  beginCell(): void;
}

/**
 * What a prelude extension (fetch, fs: see prelude-extensions.ts) gets: the global object, the
 * host call (rejects with an Error carrying the host's name, message and Node-style `code`), a
 * way to define a non-enumerable global, and the prelude options. Like the prelude, an extension
 * is serialised with toString: self-contained, no imports.
 */
export interface PreludeExtensionContext {
  global: Record<string, unknown>;
  callHost: (op: string, args: unknown) => Promise<unknown>;
  hide: (name: string, value: unknown) => void;
  options: PreludeOptions;
}
export type PreludeExtension = (ctx: PreludeExtensionContext) => void;

export function installPrelude(
  createInspector: (options?: InspectorOptions) => Inspector,
  bridge: PreludeBridge,
  optionsJson: string,
  extensions: readonly PreludeExtension[] = [],
): PreludeApi {
  const options = JSON.parse(optionsJson) as PreludeOptions;
  const g = globalThis as Record<string, unknown>;
  // Captured before user code can replace them.
  const { emit, now, seed, timer, hostCall } = bridge;
  const stringify = JSON.stringify;
  const RealDate = Date;
  const ObjectDefine = Object.defineProperty;
  const PromiseResolve = Promise.resolve.bind(Promise);
  // Built on first use: most cells never print, and building it is the bulk of the prelude's cost.
  let built: Inspector | undefined;
  const inspector: Inspector = {
    format: (args) => (built ??= createInspector(options.inspector)).format(args),
    inspect: (value) => (built ??= createInspector(options.inspector)).inspect(value),
  };
  const hide = (name: string, value: unknown) =>
    ObjectDefine(g, name, { value, writable: true, configurable: true, enumerable: false });

  // --- errors -------------------------------------------------------------------------------
  const describeError = (e: unknown): string => {
    let name = 'Uncaught';
    let message: string;
    let stack: string | undefined;
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        const n = (e as { name?: unknown }).name;
        const m = (e as { message?: unknown }).message;
        const s = (e as { stack?: unknown }).stack;
        if (typeof n === 'string') name = n;
        message = typeof m === 'string' ? m : inspector.inspect(e);
        if (typeof s === 'string') stack = s;
      } else {
        message = inspector.inspect(e);
      }
    } catch {
      message = '[error could not be inspected]';
    }
    return stringify({
      name: name.slice(0, 200),
      message: message.slice(0, 16384),
      stack: stack?.slice(0, 65536),
    });
  };
  let firstUncaught: string | undefined;
  const reportUncaught = (e: unknown) => {
    const json = describeError(e);
    firstUncaught ??= json;
    write(
      'error',
      `Uncaught ${(JSON.parse(json) as { stack?: string; message: string }).stack ?? inspector.inspect(e)}`,
    );
  };

  // --- console -------------------------------------------------------------------------------
  let outputBytes = 0;
  let indent = '';
  const write = (level: string, text: string) => {
    if (outputBytes > options.maxOutputBytes) return;
    const line = indent === '' ? text : indent + text.split('\n').join('\n' + indent);
    outputBytes += line.length;
    emit(level, line);
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
      indent += '  ';
    },
    groupCollapsed: (...a: unknown[]) => console.group(...a),
    groupEnd: () => {
      indent = indent.slice(2);
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
  hide('console', console);

  // --- time and randomness (host-fed, so a journal can replay them) ---------------------------
  const FakeDate = function Date(this: unknown, ...args: unknown[]) {
    if (new.target === undefined) return new RealDate(now()).toString();
    return Reflect.construct(RealDate, args.length ? args : [now()], new.target) as object;
  } as unknown as DateConstructor;
  ObjectDefine(FakeDate, 'prototype', { value: RealDate.prototype, writable: false });
  FakeDate.now = () => now();
  FakeDate.parse = RealDate.parse.bind(RealDate);
  FakeDate.UTC = RealDate.UTC.bind(RealDate);
  ObjectDefine(RealDate.prototype, 'constructor', { value: FakeDate, writable: true, configurable: true });
  hide('Date', FakeDate);
  // Taken on first use, not at install: then it is a journaled reading like any other.
  let origin: number | undefined;
  const timeOrigin = () => (origin ??= now());
  const performance = { now: () => now() - timeOrigin() };
  ObjectDefine(performance, 'timeOrigin', { get: timeOrigin, enumerable: true });
  hide('performance', performance);

  // xorshift128+ seeded by the host: reproducible in replay, unlike V8's own Math.random.
  let s0 = 0;
  let s1 = 0;
  ObjectDefine(Math, 'random', {
    value: function random() {
      if (s0 === 0) {
        const seeded = seed() >>> 0;
        s0 = seeded | 1;
        s1 = (Math.imul(seeded, 2654435761) >>> 0) | 1;
      }
      let x = s0;
      const y = s1;
      s0 = y;
      x ^= x << 23;
      x ^= x >>> 17;
      x ^= y ^ (y >>> 26);
      s1 = x >>> 0;
      return ((s0 + s1) >>> 0) / 4294967296;
    },
    writable: true,
    configurable: true,
  });

  // --- timers --------------------------------------------------------------------------------
  interface Timer {
    fn: (...a: unknown[]) => unknown;
    args: unknown[];
    repeat: boolean;
    delay: number;
  }
  const pending = new Map<number, Timer>();
  let nextTimerId = 1;
  const clampDelay = (d: unknown) => {
    const n = Number(d);
    return n >= 1 && n <= 2147483647 ? Math.floor(n) : 1;
  };
  const addTimer = (fn: unknown, delay: unknown, args: unknown[], repeat: boolean) => {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    if (pending.size >= options.maxTimers)
      throw new RangeError(`too many pending timers (limit ${options.maxTimers})`);
    const id = nextTimerId++;
    const t: Timer = { fn: fn as Timer['fn'], args, repeat, delay: clampDelay(delay) };
    pending.set(id, t);
    timer('set', id, t.delay);
    return id;
  };
  const clear = (id: unknown) => {
    if (typeof id === 'number' && pending.delete(id)) timer('clear', id, 0);
  };
  hide('setTimeout', (fn: unknown, delay?: unknown, ...args: unknown[]) => addTimer(fn, delay, args, false));
  hide('setInterval', (fn: unknown, delay?: unknown, ...args: unknown[]) => addTimer(fn, delay, args, true));
  hide('setImmediate', (fn: unknown, ...args: unknown[]) => addTimer(fn, 0, args, false));
  hide('clearTimeout', clear);
  hide('clearInterval', clear);
  hide('clearImmediate', clear);
  hide('queueMicrotask', (fn: unknown) => {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    PromiseResolve()
      .then(() => (fn as () => unknown)())
      .catch(reportUncaught);
  });

  // --- __mcpv8: what rewritten cells call ----------------------------------------------------
  const hostOptions = { arguments: { copy: true }, result: { promise: true, copy: true } } as const;
  const namespaces = new Map<string, unknown>();
  const parse = JSON.parse;
  /** Calls the host; a host-side failure becomes an error thrown here, in the caller's stack. */
  const callHost = async (op: string, args: unknown): Promise<unknown> => {
    const envelope = parse(await hostCall.apply(undefined, [op, stringify(args)], hostOptions)) as {
      value?: unknown;
      error?: { name: string; message: string; code?: string };
    };
    if (envelope.error) {
      const e = new Error(envelope.error.message) as Error & { code?: string };
      e.name = envelope.error.name;
      if (envelope.error.code !== undefined) e.code = envelope.error.code;
      throw e;
    }
    return envelope.value;
  };
  for (const extend of extensions) extend({ global: g, callHost, hide, options });
  const settle = (p: unknown): Promise<string> =>
    PromiseResolve(p).then(
      (value) => {
        let result: string | undefined;
        let resultType: string = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
        if (value !== undefined) {
          try {
            result = stringify(value);
          } catch {
            result = undefined;
          }
          if (result === undefined) result = inspector.inspect(value);
          if (resultType === 'function' || resultType === 'symbol' || resultType === 'bigint')
            resultType = typeof value;
        }
        const truncated = result !== undefined && result.length > options.maxResultBytes;
        return stringify({
          ok: true,
          result: truncated ? result!.slice(0, options.maxResultBytes) : result,
          resultType,
          truncated,
          uncaught: firstUncaught,
        });
      },
      (error) => stringify({ ok: false, error: JSON.parse(describeError(error)) as unknown }),
    );
  ObjectDefine(g, '__mcpv8', {
    value: Object.freeze({
      settle,
      import: async (specifier: unknown): Promise<unknown> =>
        namespaces.get((await callHost('import', { specifier: String(specifier) })) as string),
    }),
    writable: false,
    configurable: false,
    enumerable: false,
  });

  return {
    fire(id: number) {
      const t = pending.get(id);
      if (t === undefined) return undefined;
      if (t.repeat) timer('set', id, t.delay);
      else pending.delete(id);
      try {
        t.fn(...t.args);
        return undefined;
      } catch (e) {
        reportUncaught(e);
        return describeError(e);
      }
    },
    uncaught: () => firstUncaught,
    registerNamespace: (key: string, ns: unknown) => void namespaces.set(key, ns),
    beginCell: () => {
      outputBytes = 0;
      firstUncaught = undefined;
    },
  };
}
