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
import type { ConsoleDeps, ConsoleOutput } from './console-prelude.ts';
import type { Inspector, InspectorOptions } from './inspector.ts';

/** Host capabilities handed to the prelude. */
export interface PreludeBridge {
  /**
   * Synchronous: console output, one or more records of one level joined by `\n`. Synchronous
   * on purpose: the cell waits for the host, so a flood of output cannot pile up between them.
   */
  emit: (level: string, text: string) => void;
  /**
   * Synchronous: how the cell ended or what it left uncaught. `kind` is `result` (`a`: the
   * value's text or undefined, `b`: its type, `c`: `truncated` when cut), `error` (the cell's
   * promise rejected) or `uncaught` (a timer callback or microtask threw); for the last two
   * `a`, `b`, `c` are the error's name, message and stack. The host validates every argument.
   */
  report: (kind: string, a: string | undefined, b: string, c: string) => void;
  /** Synchronous: the current time in ms (live or replayed). */
  now: () => number;
  /** Synchronous: the seed of Math.random, asked for on first use (live or replayed). */
  seed: () => number;
  /** Synchronous: `set` or `clear` host timer `id` after `delayMs`. */
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
  /** …and past this many records. */
  maxOutputLines: number;
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
  /** Runs timer `id`; an error its callback throws is reported as `uncaught`. */
  fire(id: number): void;
  /**
   * Starts the cell (the async function its script evaluated to) and reports how its promise
   * settles through the bridge's `report`. Only the host holds this: a cell cannot settle itself.
   */
  watch(cell: unknown): void;
  /** Hands the host whatever console output is still buffered. */
  drain(): void;
  /** Makes a module namespace loaded by the host available to `__mcpv8.import`. */
  registerNamespace(key: string, ns: unknown): void;
  /** Starts the next cell of a session: per-cell output budget and uncaught error reset. */
  beginCell(): void;
  /** Bytes of WebAssembly memories and resizable buffers the context holds (added at connect: wasm-prelude.ts). */
  offHeapBytes(): number;
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
  createConsole: (deps: ConsoleDeps) => ConsoleOutput,
  bridge: PreludeBridge,
  optionsJson: string,
  extensions: readonly PreludeExtension[] = [],
): Omit<PreludeApi, 'offHeapBytes'> {
  const options = JSON.parse(optionsJson) as PreludeOptions;
  const MAX_HOST_CALLS_IN_FLIGHT = 256;
  const g = globalThis as Record<string, unknown>;
  // Captured before user code can replace them: everything the prelude does after user code
  // started (console, settling, reporting) uses these, never a property user code can reach.
  const { emit, report, now, seed, timer, hostCall } = bridge;
  const stringify = JSON.stringify;
  const RealDate = Date;
  const ObjectDefine = Object.defineProperty;
  type Fn = (...args: unknown[]) => unknown;
  const apply = Reflect.apply;
  const method = (o: object, key: string): Fn => Object.getOwnPropertyDescriptor(o, key)!.value as Fn;
  const isArray = Array.isArray;
  const PromiseReject = Promise.reject.bind(Promise);
  const strSlice = method(String.prototype, 'slice');
  /** `s` cut to at most `n` UTF-16 units. */
  const cut = (s: string, n: number): string => (s.length > n ? (apply(strSlice, s, [0, n]) as string) : s);
  // Built on first use: most cells never print, and building it is the bulk of the prelude's cost.
  let built: Inspector | undefined;
  const inspector: Inspector = {
    format: (args) => (built ??= createInspector(options.inspector)).format(args),
    inspect: (value) => (built ??= createInspector(options.inspector)).inspect(value),
  };
  const hide = (name: string, value: unknown) =>
    ObjectDefine(g, name, { value, writable: true, configurable: true, enumerable: false });

  // --- errors -------------------------------------------------------------------------------
  /** Text of `v` for the host, whatever user code did to the inspector's intrinsics. */
  const inspectText = (v: unknown): string => {
    try {
      const text = inspector.inspect(v);
      return typeof text === 'string' ? text : '[value could not be inspected]';
    } catch {
      return '[value could not be inspected]';
    }
  };
  // Descriptions are records with their own properties, never arrays to destructure: that would
  // ask Array.prototype[Symbol.iterator], which user code may have replaced.
  /** An error's name, message and stack (each a bounded string; stack '' when it has none). */
  const describeError = (e: unknown): { name: string; message: string; stack: string } => {
    let name = 'Uncaught';
    let message: string | undefined;
    let stack = '';
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        const n = (e as { name?: unknown }).name;
        const m = (e as { message?: unknown }).message;
        const s = (e as { stack?: unknown }).stack;
        if (typeof n === 'string') name = n;
        if (typeof m === 'string') message = m;
        if (typeof s === 'string') stack = s;
      }
    } catch {
      // A getter that throws: what was read so far stands.
    }
    return { name: cut(name, 200), message: cut(message ?? inspectText(e), 16384), stack: cut(stack, 65536) };
  };
  let uncaughtReported = false;
  /** The cell's first uncaught error (timer callback, microtask) goes to the host at once. */
  const reportUncaught = (e: unknown) => {
    const d = describeError(e);
    write('error', `Uncaught ${d.stack !== '' ? d.stack : inspectText(e)}`);
    if (uncaughtReported) return;
    uncaughtReported = true;
    flush();
    report('uncaught', d.name, d.message, d.stack);
  };

  // --- console (see console-prelude.ts) ------------------------------------------------------
  const out = createConsole({
    emit,
    now,
    inspector,
    maxOutputBytes: options.maxOutputBytes,
    maxOutputLines: options.maxOutputLines,
  });
  const { write, flush } = out;
  hide('console', out.console);

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
  // A null-prototype record and a count of our own: nothing user code does to Map can hide a
  // pending timer from the limit.
  const pending = Object.create(null) as Record<number, Timer | undefined>;
  let pendingCount = 0;
  let nextTimerId = 1;
  const clampDelay = (d: unknown) => {
    const n = Number(d);
    return n >= 1 && n <= 2147483647 ? Math.floor(n) : 1;
  };
  const addTimer = (fn: unknown, delay: unknown, args: unknown[], repeat: boolean) => {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    if (pendingCount >= options.maxTimers)
      throw new RangeError(`too many pending timers (limit ${options.maxTimers})`);
    const id = nextTimerId++;
    const t: Timer = { fn: fn as Timer['fn'], args, repeat, delay: clampDelay(delay) };
    pending[id] = t;
    pendingCount++;
    timer('set', id, t.delay);
    return id;
  };
  const forget = (id: number) => {
    delete pending[id];
    pendingCount--;
  };
  const clear = (id: unknown) => {
    if (typeof id !== 'number' || pending[id] === undefined) return;
    forget(id);
    timer('clear', id, 0);
  };
  hide('setTimeout', (fn: unknown, delay?: unknown, ...args: unknown[]) => addTimer(fn, delay, args, false));
  hide('setInterval', (fn: unknown, delay?: unknown, ...args: unknown[]) => addTimer(fn, delay, args, true));
  hide('setImmediate', (fn: unknown, ...args: unknown[]) => addTimer(fn, 0, args, false));
  hide('clearTimeout', clear);
  hide('clearInterval', clear);
  hide('clearImmediate', clear);
  const runMicrotask = async (fn: () => unknown) => {
    // eslint-disable-next-line @typescript-eslint/await-thenable -- V8's own promise machinery, nothing user code replaced
    await undefined;
    try {
      fn();
    } catch (e) {
      reportUncaught(e);
    }
  };
  hide('queueMicrotask', (fn: unknown) => {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    void runMicrotask(fn as () => unknown);
  });

  // --- __mcpv8: what rewritten cells call ----------------------------------------------------
  const hostOptions = { arguments: { copy: true }, result: { promise: true, copy: true } } as const;
  const namespaces = new Map<string, unknown>();
  const mapGet = method(Map.prototype, 'get');
  const mapSet = method(Map.prototype, 'set');
  const parse = JSON.parse;
  // Host calls in flight at once: each waits in isolated-vm's queue, so they are bounded here.
  let hostCallsInFlight = 0;
  /** Calls the host; a host-side failure becomes an error thrown here, in the caller's stack. */
  const callHost = async (op: string, args: unknown): Promise<unknown> => {
    if (hostCallsInFlight >= MAX_HOST_CALLS_IN_FLIGHT)
      throw new RangeError(`too many host calls in flight (limit ${MAX_HOST_CALLS_IN_FLIGHT})`);
    hostCallsInFlight++;
    let answer: string;
    try {
      answer = await hostCall.apply(undefined, [op, stringify(args)], hostOptions);
    } finally {
      hostCallsInFlight--;
    }
    const envelope = parse(answer) as {
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
  ObjectDefine(g, '__mcpv8', {
    value: Object.freeze({
      import: async (specifier: unknown): Promise<unknown> =>
        apply(mapGet, namespaces, [await callHost('import', { specifier: String(specifier) })]),
    }),
    writable: false,
    configurable: false,
    enumerable: false,
  });

  // --- the cell's report -----------------------------------------------------------------------
  /** The report of a value the cell settled with: its text (none for undefined), type, and whether cut. */
  const describeResult = (value: unknown): { text: string | undefined; type: string; truncated: string } => {
    if (value === undefined) return { text: undefined, type: 'undefined', truncated: '' };
    let type: string = value === null ? 'null' : typeof value;
    try {
      if (type === 'object' && isArray(value)) type = 'array';
    } catch {
      // A revoked Proxy: an object.
    }
    let text: unknown;
    try {
      text = stringify(value);
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string') text = inspectText(value);
    const full = text as string;
    const shown = cut(full, options.maxResultBytes);
    return { text: shown, type, truncated: shown.length < full.length ? 'truncated' : '' };
  };
  // `await` on the cell's promise asks nothing of Promise.prototype when the promise is V8's own,
  // and whatever a replaced `constructor` or `then` makes it settle with is only the cell's value:
  // the report itself is built and delivered here, where user code cannot reach.
  // Cells of a session run one after another in this context; a cell that ended early (an
  // uncaught error) may settle later, when its report would be taken for the next cell's.
  let cellEpoch = 0;
  const settle = async (promise: unknown, epoch: number) => {
    let value: unknown;
    let rejected = false;
    try {
      value = await promise;
    } catch (e) {
      rejected = true;
      value = e;
    }
    if (epoch !== cellEpoch) return;
    try {
      flush();
      if (rejected) {
        const d = describeError(value);
        report('error', d.name, d.message, d.stack);
      } else {
        const r = describeResult(value);
        report('result', r.text, r.type, r.truncated);
      }
    } catch {
      report('error', 'Error', 'the cell settled with a value that could not be reported', '');
    }
  };

  return {
    fire(id: number) {
      const t = pending[id];
      if (t === undefined) return;
      if (t.repeat) timer('set', id, t.delay);
      else forget(id);
      try {
        apply(t.fn, undefined, t.args);
      } catch (e) {
        reportUncaught(e);
      }
    },
    watch: (cell: unknown) => {
      // Called here so its promise is watched from its first tick (else a throw before its first
      // `await` is a rejection nobody handles yet).
      let promise: unknown;
      try {
        promise = apply(cell as () => unknown, undefined, []);
      } catch (e) {
        promise = PromiseReject(e);
      }
      void settle(promise, ++cellEpoch);
    },
    drain: flush,
    registerNamespace: (key: string, ns: unknown) => void apply(mapSet, namespaces, [key, ns]),
    beginCell: () => {
      out.reset();
      uncaughtReported = false;
    },
  };
}
