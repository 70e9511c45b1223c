/**
 * The console formatter that runs inside each V8 isolate: a self-contained re-implementation of
 * Node's `util.format` / `util.inspect` (what `console.log` prints), written to survive hostile
 * values. It never throws, never runs user getters, `toString`, `valueOf`, `toJSON` or
 * `util.inspect.custom` methods, and stops working once its output budget is spent.
 *
 * The runner ships it into isolates as source text, `(${createInspector.toString()})(options)`,
 * so the body of {@link createInspector} must reference nothing outside itself: no imports, no
 * module-level values, no syntax a compiler would lower into helper calls.
 *
 * Known differences from Node (each forced by running without Node's internals, or by the
 * rule against running user code):
 * - Proxies are inspected through their traps (Node shows the target); a trap that throws, or a
 *   revoked proxy, shows as `[Inspection threw: …]`.
 * - Promises print as `Promise {}` (their state cannot be read from JavaScript); Map and Set
 *   iterators print as `[Map Iterator] { <items unknown> }` (their entries cannot be previewed
 *   without consuming them).
 * - `Symbol.toStringTag` getters are not invoked, so a class whose tag is a getter prints
 *   `Foo {}` where Node prints `Foo [Tag] {}`; a function or class whose `name` is a getter
 *   prints as anonymous.
 * - `%s` inspects objects (depth 0) even when they define their own `toString`; `%d`, `%i` and
 *   `%f` give `NaN` for objects other than boxed primitives and Dates; `%j` does not call
 *   `toJSON` (Dates excepted) and leaves out accessor properties.
 * - `%o` does not list accessors inherited from class prototypes.
 * - An error's `stack` is read through V8's own accessor (which may run a user-installed
 *   `Error.prepareStackTrace`); a user-defined `stack`, `name` or `message` getter is not run.
 * - Once 200 000 array, typed-array or String-wrapper elements have been scanned in one call,
 *   longer ones no longer list their non-index properties (listing keys costs O(length)).
 * - Null-prototype ArrayBuffers, WeakMaps, WeakSets and BigInt/Symbol wrappers print as plain
 *   null-prototype objects (recognising them needs throwing brand checks on every such object).
 * - `depth` is capped at 100 so that recursion stays far from the isolate's stack limit.
 * - Output is cut at `maxOutputLength` with `… [truncated N chars]`. When the inspector stopped
 *   early the count is unknown, the suffix is `… [truncated]`, and the visible part may be laid
 *   out differently from Node's (line breaking is decided on the entries actually built).
 * - Built-ins are captured when the inspector is created; user code that later installs
 *   accessors for array indices on `Array.prototype` can still break it (it then reports
 *   `[Inspection threw: …]`, and never throws).
 */

/** Limits for {@link createInspector}; defaults match `console.log` in Node. */
export interface InspectorOptions {
  /** How many levels of nesting are expanded before `[Object]`; default 2, at most 100. */
  depth?: number;
  /** Elements shown per array, typed array, Set or Map; default 100. */
  maxArrayLength?: number;
  /** Characters shown per nested string; default 10000. */
  maxStringLength?: number;
  /** Width above which an object is broken over several lines; default 80. */
  breakLength?: number;
  /** Longest formatted line; longer output is cut with a `… [truncated N chars]` suffix. Default 65536. */
  maxOutputLength?: number;
}

/** A formatter bound to one set of {@link InspectorOptions}. */
export interface Inspector {
  /** Formats `console.log`-style arguments like Node's `util.format`; never throws. */
  format(args: readonly unknown[]): string;
  /** Formats one value like Node's `util.inspect`; never throws. */
  inspect(value: unknown): string;
}

/**
 * Creates an inspector. Self-contained: its body references nothing outside itself (no imports,
 * no closures over module scope, no TS helpers), because the runner injects it into isolates as
 * `(${createInspector.toString()})(opts)`. Call it before user code runs: it captures the
 * built-ins it relies on, so that later tampering with prototypes cannot redirect it.
 */
export function createInspector(options?: InspectorOptions): Inspector {
  'use strict';

  // Recursion stays far from the stack limit (about four frames per level); key listing and
  // prototype walks stay bounded in time whatever the input.
  const MAX_DEPTH = 100;
  const MAX_PROTO_WALK = 1000;
  const KEY_WORK_LIMIT = 200_000;
  const HOLE_SCAN_LIMIT = 10_000;
  const JSON_MAX_DEPTH = 1000;
  const COMPACT = 3;
  const MIN_LINE_WIDTH = 16;
  const OBJECT_TYPE = 0;
  const ARRAY_TYPE = 1;
  const ARRAY_EXTRAS_TYPE = 2;

  // ---- Built-ins, captured now: user code may replace the globals and prototype methods later.
  // Methods are captured unbound on purpose; every call goes through uncurry() with a receiver.
  /* eslint-disable @typescript-eslint/unbound-method */
  type Getter<R> = (self: unknown) => R;
  const FunctionPrototypeCall = Function.prototype.call;
  const FunctionPrototypeBind = Function.prototype.bind;
  const uncurry = <R>(fn: unknown): ((self: unknown, ...args: unknown[]) => R) =>
    FunctionPrototypeBind.call(FunctionPrototypeCall, fn) as (self: unknown, ...args: unknown[]) => R;
  const ObjectKeys = Object.keys;
  const ObjectGetOwnPropertyNames = Object.getOwnPropertyNames;
  const ObjectGetOwnPropertySymbols = Object.getOwnPropertySymbols;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectGetPrototypeOf = Object.getPrototypeOf;
  const ObjectIs = Object.is;
  const ArrayIsArray = Array.isArray;
  const hasOwn = uncurry<boolean>(Object.prototype.hasOwnProperty);
  const ObjectToString = uncurry<string>(Object.prototype.toString);
  const ArrayBufferIsView = ArrayBuffer.isView;
  const propertyIsEnumerable = uncurry<boolean>(Object.prototype.propertyIsEnumerable);
  const getterOf = <R>(proto: object, key: PropertyKey): Getter<R> | undefined => {
    const desc = ObjectGetOwnPropertyDescriptor(proto, key);
    return desc !== undefined && typeof desc.get === 'function' ? uncurry<R>(desc.get) : undefined;
  };
  const requiredGetter = <R>(proto: object, key: PropertyKey): Getter<R> => {
    const get = getterOf<R>(proto, key);
    if (get === undefined) throw new TypeError(`inspector: missing built-in getter ${String(key)}`);
    return get;
  };
  const MathMin = Math.min;
  const MathMax = Math.max;
  const MathSqrt = Math.sqrt;
  const MathRound = Math.round;
  const MathFloor = Math.floor;
  const NumberParseInt = Number.parseInt;
  const NumberParseFloat = Number.parseFloat;
  const NumberIsNaN = Number.isNaN;
  const StringFromCharCode = String.fromCharCode;
  const TypeErrorCtor = TypeError;
  const RangeErrorCtor = RangeError;
  const NumberCtor = Number;
  const JSONStringify = JSON.stringify;
  const SymbolIterator = Symbol.iterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const StringSlice = uncurry<string>(String.prototype.slice);
  const StringIndexOf = uncurry<number>(String.prototype.indexOf);
  const StringIncludes = uncurry<boolean>(String.prototype.includes);
  const StringStartsWith = uncurry<boolean>(String.prototype.startsWith);
  const StringEndsWith = uncurry<boolean>(String.prototype.endsWith);
  const StringRepeat = uncurry<string>(String.prototype.repeat);
  const StringPadStart = uncurry<string>(String.prototype.padStart);
  const StringPadEnd = uncurry<string>(String.prototype.padEnd);
  const StringCharCodeAt = uncurry<number>(String.prototype.charCodeAt);
  const NumberToString = uncurry<string>(Number.prototype.toString);
  const FunctionToString = uncurry<string>(Function.prototype.toString);
  const SymbolToString = uncurry<string>(Symbol.prototype.toString);
  const NumberValueOf = uncurry<number>(Number.prototype.valueOf);
  const StringValueOf = uncurry<string>(String.prototype.valueOf);
  const BooleanValueOf = uncurry<boolean>(Boolean.prototype.valueOf);
  const BigIntValueOf = uncurry<bigint>(BigInt.prototype.valueOf);
  const SymbolValueOf = uncurry<symbol>(Symbol.prototype.valueOf);
  const DateGetTime = uncurry<number>(Date.prototype.getTime);
  const DateToISOString = uncurry<string>(Date.prototype.toISOString);
  const DateToString = uncurry<string>(Date.prototype.toString);
  const RegExpExec = uncurry<RegExpExecArray | null>(RegExp.prototype.exec);
  const RegExpPrototype = RegExp.prototype;
  const RegExpSource = requiredGetter<string>(RegExpPrototype, 'source');
  // Flag getters read internal slots; the generic `flags` getter would read user-definable properties.
  const regExpFlagGetters: [string, Getter<boolean> | undefined][] = [
    ['d', getterOf<boolean>(RegExpPrototype, 'hasIndices')],
    ['g', getterOf<boolean>(RegExpPrototype, 'global')],
    ['i', getterOf<boolean>(RegExpPrototype, 'ignoreCase')],
    ['m', getterOf<boolean>(RegExpPrototype, 'multiline')],
    ['s', getterOf<boolean>(RegExpPrototype, 'dotAll')],
    ['u', getterOf<boolean>(RegExpPrototype, 'unicode')],
    ['v', getterOf<boolean>(RegExpPrototype, 'unicodeSets')],
    ['y', getterOf<boolean>(RegExpPrototype, 'sticky')],
  ];
  const MapSize = requiredGetter<number>(Map.prototype, 'size');
  const MapEntries = uncurry<unknown>(Map.prototype.entries);
  const MapIteratorPrototype = ObjectGetPrototypeOf(new Map().entries()) as object;
  const MapIteratorNext = uncurry<IteratorResult<[unknown, unknown]>>(
    (MapIteratorPrototype as { next: unknown }).next,
  );
  const SetSize = requiredGetter<number>(Set.prototype, 'size');
  const SetValues = uncurry<unknown>(Set.prototype.values);
  const SetIteratorPrototype = ObjectGetPrototypeOf(new Set().values()) as object;
  const SetIteratorNext = uncurry<IteratorResult<unknown>>((SetIteratorPrototype as { next: unknown }).next);
  const WeakMapHas = uncurry<boolean>(WeakMap.prototype.has);
  const WeakSetHas = uncurry<boolean>(WeakSet.prototype.has);
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype) as object;
  const TypedArrayTag = requiredGetter<string | undefined>(TypedArrayPrototype, SymbolToStringTag);
  const TypedArrayLength = requiredGetter<number>(TypedArrayPrototype, 'length');
  const TypedArrayByteLength = requiredGetter<number>(TypedArrayPrototype, 'byteLength');
  const TypedArrayByteOffset = requiredGetter<number>(TypedArrayPrototype, 'byteOffset');
  const TypedArrayBuffer = requiredGetter<object>(TypedArrayPrototype, 'buffer');
  const Uint8ArrayCtor = Uint8Array;
  const ArrayBufferByteLength = requiredGetter<number>(ArrayBuffer.prototype, 'byteLength');
  const SharedArrayBufferByteLength =
    typeof SharedArrayBuffer === 'function'
      ? getterOf<number>(SharedArrayBuffer.prototype as object, 'byteLength')
      : undefined;
  const DataViewByteLength = requiredGetter<number>(DataView.prototype, 'byteLength');
  const DataViewByteOffset = requiredGetter<number>(DataView.prototype, 'byteOffset');
  const DataViewBuffer = requiredGetter<object>(DataView.prototype, 'buffer');
  const ErrorPrototype = Error.prototype;
  const ErrorIsError = (Error as { isError?: unknown }).isError;
  const errorIsError = typeof ErrorIsError === 'function' ? uncurry<boolean>(ErrorIsError) : undefined;
  // V8's own `stack` accessor: calling it formats the captured trace, which is not user code
  // (unless the user installed Error.prepareStackTrace); any other getter is.
  const ErrorStackGetter = ObjectGetOwnPropertyDescriptor(new Error(), 'stack')?.get;
  const ErrorStack = ErrorStackGetter === undefined ? undefined : uncurry<unknown>(ErrorStackGetter);
  const AsyncFunctionPrototype = ObjectGetPrototypeOf(async () => {}) as object;
  const GeneratorFunctionPrototype = ObjectGetPrototypeOf(function* () {}) as object;
  const AsyncGeneratorFunctionPrototype = ObjectGetPrototypeOf(async function* () {}) as object;
  const ArrayPrototypeValues = Array.prototype.values;
  const ACCESSOR = {};
  /* eslint-enable @typescript-eslint/unbound-method */

  // ---- Options.
  const opts: InspectorOptions = options ?? {};
  const limit = (value: unknown, fallback: number, max: number): number =>
    typeof value === 'number' && !NumberIsNaN(value) ? MathFloor(MathMin(MathMax(value, 0), max)) : fallback;
  const depthOption = limit(opts.depth, 2, MAX_DEPTH);
  const maxArrayLength = limit(opts.maxArrayLength, 100, 2 ** 32);
  const maxStringLength = limit(opts.maxStringLength, 10_000, 2 ** 30);
  const breakLength = limit(opts.breakLength, 80, 2 ** 30);
  const maxOutputLength = limit(opts.maxOutputLength, 65_536, 2 ** 29);

  // ---- State of one inspection.
  interface Budget {
    /** Characters produced so far (an estimate that never exceeds the real output much). */
    used: number;
    /** Set once `used` passes the limit: every loop stops adding entries. */
    stopped: boolean;
    /** Keys enumerated so far on arrays and typed arrays, whose key lists cost O(length). */
    keyWork: number;
  }
  interface Ctx {
    budget: Budget;
    depth: number;
    showHidden: boolean;
    seen: object[];
    circular: object[];
    indentationLvl: number;
    currentDepth: number;
  }
  const newBudget = (): Budget => ({ used: 0, stopped: false, keyWork: 0 });
  const newCtx = (budget: Budget, depth: number, showHidden: boolean): Ctx => ({
    budget,
    depth,
    showHidden,
    seen: [],
    circular: [],
    indentationLvl: 0,
    currentDepth: 0,
  });
  const charge = (ctx: Ctx, text: string): string => {
    const budget = ctx.budget;
    budget.used += text.length;
    if (budget.used > maxOutputLength) budget.stopped = true;
    return text;
  };

  // ---- Small safe helpers (no user code runs in any of them, proxies aside).
  const join = (list: readonly string[], separator: string): string => {
    let out = '';
    for (let i = 0; i < list.length; i++) out += i === 0 ? list[i] : separator + list[i];
    return out;
  };
  const splitOn = (text: string, separator: string): string[] => {
    const out: string[] = [];
    let from = 0;
    for (;;) {
      const at = StringIndexOf(text, separator, from);
      if (at === -1) break;
      out[out.length] = StringSlice(text, from, at);
      from = at + separator.length;
    }
    out[out.length] = StringSlice(text, from);
    return out;
  };
  const replaceNewlines = (text: string, replacement: string): string =>
    join(splitOn(text, '\n'), replacement);
  const isObjectLike = (value: unknown): value is object =>
    (typeof value === 'object' && value !== null) || typeof value === 'function';
  /** The value of a data descriptor, or ACCESSOR for a getter/setter pair. */
  const descValue = (desc: PropertyDescriptor): unknown =>
    hasOwn(desc, 'get') || hasOwn(desc, 'set') ? ACCESSOR : desc.value;
  /** Looks `key` up the prototype chain without running getters: undefined when absent. */
  const lookupData = (obj: object, key: PropertyKey): unknown => {
    let current: object | null = obj;
    for (let steps = 0; current !== null && steps < MAX_PROTO_WALK; steps++) {
      const desc = ObjectGetOwnPropertyDescriptor(current, key);
      if (desc !== undefined) return descValue(desc);
      current = ObjectGetPrototypeOf(current) as object | null;
    }
    return undefined;
  };
  const protoChainIncludes = (obj: object, proto: object): boolean => {
    let current = ObjectGetPrototypeOf(obj) as object | null;
    for (let steps = 0; current !== null && steps < MAX_PROTO_WALK; steps++) {
      if (current === proto) return true;
      current = ObjectGetPrototypeOf(current) as object | null;
    }
    return false;
  };
  const brand = (check: Getter<unknown> | undefined, value: unknown): boolean => {
    if (check === undefined) return false;
    try {
      check(value);
      return true;
    } catch {
      return false;
    }
  };
  // Brand checks throw on a miss, which costs microseconds: only try those whose prototype is on
  // the chain. Objects without Object.prototype on their chain get the Map and Set checks (Node
  // prints `[Map(1): null prototype]`) and a getter-free Object.prototype.toString for the rest.
  const K_MAP = 1;
  const K_SET = 2;
  const K_DATE = 4;
  const K_REGEXP = 8;
  const K_ARRAY_BUFFER = 16;
  const K_SHARED_ARRAY_BUFFER = 32;
  const K_DATA_VIEW = 64;
  const K_WEAK_MAP = 128;
  const K_WEAK_SET = 256;
  const K_NUMBER = 512;
  const K_STRING = 1024;
  const K_BOOLEAN = 2048;
  const K_BIGINT = 4096;
  const K_SYMBOL = 8192;
  const K_PROMISE = 16384;
  const K_MAP_ITERATOR = 32768;
  const K_SET_ITERATOR = 65536;
  const K_OBJECT = 131072;
  const knownPrototypes: [unknown, number][] = [
    [Map.prototype, K_MAP],
    [Set.prototype, K_SET],
    [Date.prototype, K_DATE],
    [RegExpPrototype, K_REGEXP],
    [ArrayBuffer.prototype, K_ARRAY_BUFFER],
    [
      typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer.prototype : undefined,
      K_SHARED_ARRAY_BUFFER,
    ],
    [DataView.prototype, K_DATA_VIEW],
    [WeakMap.prototype, K_WEAK_MAP],
    [WeakSet.prototype, K_WEAK_SET],
    [Number.prototype, K_NUMBER],
    [String.prototype, K_STRING],
    [Boolean.prototype, K_BOOLEAN],
    [BigInt.prototype, K_BIGINT],
    [Symbol.prototype, K_SYMBOL],
    [Promise.prototype, K_PROMISE],
    [MapIteratorPrototype, K_MAP_ITERATOR],
    [SetIteratorPrototype, K_SET_ITERATOR],
    [Object.prototype, K_OBJECT],
  ];
  /** Which known prototypes are on the chain of `value`, as K_* bits. */
  const chainHints = (value: object): number => {
    let hints = 0;
    let current = ObjectGetPrototypeOf(value) as object | null;
    for (let steps = 0; current !== null && steps < MAX_PROTO_WALK; steps++) {
      for (let i = 0; i < knownPrototypes.length; i++) {
        const known = knownPrototypes[i] as [unknown, number];
        if (known[0] === current) {
          hints |= known[1];
          break;
        }
      }
      current = ObjectGetPrototypeOf(current) as object | null;
    }
    if ((hints & K_OBJECT) !== 0) return hints;
    hints |= K_MAP | K_SET;
    if (ArrayBufferIsView(value) && TypedArrayTag(value) === undefined) hints |= K_DATA_VIEW;
    const builtinTag = safeBuiltinTag(value);
    for (let i = 0; i < builtinTags.length; i++) {
      const entry = builtinTags[i] as [string, number];
      if (entry[0] === builtinTag) hints |= entry[1];
    }
    return hints;
  };
  const builtinTags: [string, number][] = [
    ['[object Date]', K_DATE],
    ['[object RegExp]', K_REGEXP],
    ['[object Number]', K_NUMBER],
    ['[object String]', K_STRING],
    ['[object Boolean]', K_BOOLEAN],
  ];
  /** Object.prototype.toString, only when no Symbol.toStringTag on the chain could run or mask it. */
  const safeBuiltinTag = (value: object): string => {
    let current: object | null = value;
    for (let steps = 0; current !== null && steps < MAX_PROTO_WALK; steps++) {
      if (ObjectGetOwnPropertyDescriptor(current, SymbolToStringTag) !== undefined) return '';
      current = ObjectGetPrototypeOf(current) as object | null;
    }
    return ObjectToString(value);
  };
  const maybe = (hints: number, kind: number): boolean => (hints & kind) !== 0;
  const NOT_BOXED = {};
  /** The primitive inside a Number, String, Boolean, BigInt or Symbol wrapper, else NOT_BOXED. */
  const unbox = (value: object, hints: number): unknown => {
    if (maybe(hints, K_NUMBER) && brand(NumberValueOf, value)) return NumberValueOf(value);
    if (maybe(hints, K_STRING) && brand(StringValueOf, value)) return StringValueOf(value);
    if (maybe(hints, K_BOOLEAN) && brand(BooleanValueOf, value)) return BooleanValueOf(value);
    if (maybe(hints, K_BIGINT) && brand(BigIntValueOf, value)) return BigIntValueOf(value);
    if (maybe(hints, K_SYMBOL) && brand(SymbolValueOf, value)) return SymbolValueOf(value);
    return NOT_BOXED;
  };
  const isDate = (value: object, hints: number): boolean => maybe(hints, K_DATE) && brand(DateGetTime, value);
  const safePrimitiveString = (value: unknown): string => {
    if (typeof value === 'string') return value;
    if (typeof value === 'symbol') return SymbolToString(value);
    if (isObjectLike(value)) return '';
    return `${value as number}`;
  };
  const describeThrown = (err: unknown): string => {
    try {
      let message: string;
      if (isObjectLike(err)) {
        const found = lookupData(err, 'message');
        message =
          typeof found === 'string'
            ? found
            : isError(err)
              ? 'an error without a readable message'
              : 'a non-Error value was thrown';
      } else {
        message = safePrimitiveString(err);
      }
      return message.length > 200 ? `${StringSlice(message, 0, 200)}…` : message;
    } catch {
      return 'unknown error';
    }
  };
  const threw = (ctx: Ctx, err: unknown): string => charge(ctx, `[Inspection threw: ${describeThrown(err)}]`);

  // ---- Strings and primitives.
  const hex = (code: number): string => {
    const digits = NumberToString(code, 16);
    return digits.length < 2 ? `0${digits}` : digits;
  };
  const upperHex = (code: number): string => {
    const h = hex(code);
    let out = '';
    for (let i = 0; i < h.length; i++) {
      const c = StringCharCodeAt(h, i);
      out += c >= 97 && c <= 102 ? StringFromCharCode(c - 32) : h[i];
    }
    return out;
  };
  const escapeChar = (code: number): string => {
    switch (code) {
      case 8:
        return '\\b';
      case 9:
        return '\\t';
      case 10:
        return '\\n';
      case 12:
        return '\\f';
      case 13:
        return '\\r';
      case 39:
        return "\\'";
      case 92:
        return '\\\\';
      default:
        return `\\x${upperHex(code)}`;
    }
  };
  /** Escapes control characters, backslashes, lone surrogates and (when asked) one quote. */
  const escapeText = (text: string, quote: number): string => {
    let out = '';
    let last = 0;
    for (let i = 0; i < text.length; i++) {
      const code = StringCharCodeAt(text, i);
      if (code === quote || code === 92 || code < 32 || (code > 126 && code < 160)) {
        out += StringSlice(text, last, i) + escapeChar(code);
        last = i + 1;
      } else if (code >= 0xd800 && code <= 0xdfff) {
        if (code <= 0xdbff && i + 1 < text.length) {
          const next = StringCharCodeAt(text, i + 1);
          if (next >= 0xdc00 && next <= 0xdfff) {
            i++;
            continue;
          }
        }
        out += `${StringSlice(text, last, i)}\\u${NumberToString(code, 16)}`;
        last = i + 1;
      }
    }
    return last === 0 ? text : out + StringSlice(text, last);
  };
  /** Quotes like Node: single quotes, or double quotes / backticks to avoid escaping. */
  const strEscape = (text: string): string => {
    let quote = 39;
    if (StringIncludes(text, "'")) {
      if (!StringIncludes(text, '"')) quote = -1;
      else if (!StringIncludes(text, '`') && !StringIncludes(text, '${')) quote = -2;
    }
    const body = escapeText(text, quote);
    if (quote === -1) return `"${body}"`;
    if (quote === -2) return `\`${body}\``;
    return `'${body}'`;
  };
  const isIdentifier = (key: string): boolean => {
    if (key.length === 0) return false;
    for (let i = 0; i < key.length; i++) {
      const c = StringCharCodeAt(key, i);
      const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
      if (!letter && !(i > 0 && c >= 48 && c <= 57)) return false;
    }
    return true;
  };
  /** True for the canonical array index strings '0' … '4294967294'. */
  const isIndexKey = (key: string): boolean => {
    if (key.length === 0 || key.length > 10) return false;
    for (let i = 0; i < key.length; i++) {
      const c = StringCharCodeAt(key, i);
      if (c < 48 || c > 57 || (i === 0 && c === 48 && key.length > 1)) return false;
    }
    return NumberCtor(key) < 4294967295;
  };
  const formatNumber = (value: number): string => (ObjectIs(value, -0) ? '-0' : `${value}`);
  const formatBigInt = (value: bigint): string => `${value}n`;
  const formatPrimitive = (ctx: Ctx, value: unknown): string => {
    if (typeof value === 'string') {
      let text = value;
      let trailer = '';
      if (text.length > maxStringLength) {
        const remaining = text.length - maxStringLength;
        text = StringSlice(text, 0, maxStringLength);
        trailer = `... ${remaining} more character${remaining > 1 ? 's' : ''}`;
      }
      if (text.length > MIN_LINE_WIDTH && text.length > breakLength - ctx.indentationLvl - 4) {
        // Long strings print one source line per line of text, joined with `+`.
        const lines = splitOn(text, '\n');
        const parts: string[] = [];
        for (let i = 0; i < lines.length; i++) {
          const line = i < lines.length - 1 ? `${lines[i]}\n` : (lines[i] as string);
          if (line !== '') parts[parts.length] = strEscape(line);
        }
        if (parts.length === 0) parts[0] = strEscape('');
        return join(parts, ` +\n${StringRepeat(' ', ctx.indentationLvl + 2)}`) + trailer;
      }
      return strEscape(text) + trailer;
    }
    if (typeof value === 'number') return formatNumber(value);
    if (typeof value === 'bigint') return formatBigInt(value);
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    if (typeof value === 'undefined') return 'undefined';
    if (value === null) return 'null';
    return SymbolToString(value);
  };

  // ---- Type detection.
  const getPrefix = (constructor: string | null, tag: string, fallback: string, size = ''): string => {
    if (constructor === null) {
      if (tag !== '' && fallback !== tag) return `[${fallback}${size}: null prototype] [${tag}] `;
      return `[${fallback}${size}: null prototype] `;
    }
    if (tag !== '' && constructor !== tag) return `${constructor}${size} [${tag}] `;
    return `${constructor}${size} `;
  };
  const functionName = (fn: object): unknown => {
    const desc = ObjectGetOwnPropertyDescriptor(fn, 'name');
    return desc === undefined ? '' : descValue(desc);
  };
  /** `obj instanceof ctor` without Symbol.hasInstance or `prototype` getters. */
  const isInstanceOf = (obj: object, ctor: object, holder: object): boolean => {
    const desc = ObjectGetOwnPropertyDescriptor(ctor, 'prototype');
    if (desc === undefined) return false;
    const proto = descValue(desc);
    if (!isObjectLike(proto)) return false;
    return proto === holder
      ? holder !== obj || protoChainIncludes(obj, proto)
      : protoChainIncludes(obj, proto);
  };
  const getConstructorName = (obj: object, ctx: Ctx, recurseTimes: number): string | null => {
    let firstProto: object | null | undefined;
    let current: object | null = obj;
    for (let steps = 0; current !== null; steps++) {
      if (steps >= MAX_PROTO_WALK) return 'Object';
      const desc = ObjectGetOwnPropertyDescriptor(current, 'constructor');
      if (desc !== undefined) {
        const ctor = descValue(desc);
        if (typeof ctor === 'function') {
          const name = functionName(ctor);
          if (typeof name === 'string' && name !== '' && isInstanceOf(obj, ctor, current)) return name;
        }
      }
      current = ObjectGetPrototypeOf(current) as object | null;
      if (firstProto === undefined) firstProto = current;
    }
    if (firstProto === null || firstProto === undefined) return null;
    const res = ArrayIsArray(obj) ? 'Array' : typeof obj === 'function' ? 'Function' : 'Object';
    if (recurseTimes > ctx.depth) return `${res} <Complex prototype>`;
    const protoConstr = getConstructorName(firstProto, ctx, recurseTimes + 1);
    if (protoConstr === null) {
      const sub = newCtx(ctx.budget, -1, false);
      return `${res} <${formatValue(sub, firstProto, 0)}>`;
    }
    return `${res} <${protoConstr}>`;
  };
  /** `value[Symbol.toStringTag]` as Node uses it, without running user getters. */
  const getTag = (value: object, ctx: Ctx): string => {
    let tag: unknown;
    let current: object | null = value;
    for (let steps = 0; current !== null && steps < MAX_PROTO_WALK; steps++) {
      const desc = ObjectGetOwnPropertyDescriptor(current, SymbolToStringTag);
      if (desc !== undefined) {
        tag = descValue(desc);
        if (tag === ACCESSOR) tag = current === TypedArrayPrototype ? TypedArrayTag(value) : undefined;
        break;
      }
      current = ObjectGetPrototypeOf(current) as object | null;
    }
    if (typeof tag !== 'string') return '';
    // Only list the tag when it is not printed as a property anyway.
    if (tag !== '' && (ctx.showHidden ? hasOwn : propertyIsEnumerable)(value, SymbolToStringTag)) return '';
    return tag;
  };
  const isError = (value: object): boolean =>
    (errorIsError !== undefined && errorIsError(undefined, value)) ||
    protoChainIncludes(value, ErrorPrototype);
  const isArguments = (value: object): boolean => {
    if (!hasOwn(value, 'callee') || ArrayIsArray(value)) return false;
    const desc = ObjectGetOwnPropertyDescriptor(value, SymbolIterator);
    return desc !== undefined && descValue(desc) === ArrayPrototypeValues;
  };
  const arrayLength = (value: object): number => {
    const desc = ObjectGetOwnPropertyDescriptor(value, 'length');
    const len = desc === undefined ? 0 : descValue(desc);
    return typeof len === 'number' ? len : 0;
  };

  // ---- Keys.
  const getKeys = (value: object, showHidden: boolean): PropertyKey[] => {
    const keys: PropertyKey[] = showHidden ? ObjectGetOwnPropertyNames(value) : ObjectKeys(value);
    const symbols = ObjectGetOwnPropertySymbols(value);
    for (let i = 0; i < symbols.length; i++) {
      const symbol = symbols[i] as symbol;
      if (showHidden || propertyIsEnumerable(value, symbol)) keys[keys.length] = symbol;
    }
    return keys;
  };
  /** Own keys that are not array indices; skipped (empty) once listing them would cost too much. */
  const getNonIndexKeys = (ctx: Ctx, value: object, length: number, showHidden: boolean): PropertyKey[] => {
    const budget = ctx.budget;
    if (budget.keyWork + length > KEY_WORK_LIMIT) {
      const symbolsOnly: PropertyKey[] = [];
      const symbols = ObjectGetOwnPropertySymbols(value);
      for (let i = 0; i < symbols.length; i++) {
        const symbol = symbols[i] as symbol;
        if (showHidden || propertyIsEnumerable(value, symbol)) symbolsOnly[symbolsOnly.length] = symbol;
      }
      return symbolsOnly;
    }
    budget.keyWork += length;
    const all = getKeys(value, showHidden);
    const keys: PropertyKey[] = [];
    for (let i = 0; i < all.length; i++) {
      const key = all[i] as PropertyKey;
      if (typeof key !== 'string' || !isIndexKey(key)) keys[keys.length] = key;
    }
    return keys;
  };

  // ---- Formatting.
  type Formatter = (ctx: Ctx, value: object, recurseTimes: number) => string[];
  const formatNothing: Formatter = () => [];
  const remainingText = (remaining: number): string =>
    `... ${remaining} more item${remaining > 1 ? 's' : ''}`;

  function formatValue(ctx: Ctx, value: unknown, recurseTimes: number, typedArray = false): string {
    // Two characters for the separator that follows almost every value (`, ` or ` => `).
    ctx.budget.used += 2;
    if (!isObjectLike(value)) return charge(ctx, formatPrimitive(ctx, value));
    if (ctx.budget.stopped) return '';
    const seen = ctx.seen;
    for (let i = 0; i < seen.length; i++) {
      if (seen[i] === value) {
        const circular = ctx.circular;
        let index = 0;
        while (index < circular.length && circular[index] !== value) index++;
        if (index === circular.length) circular[index] = value;
        return charge(ctx, `[Circular *${index + 1}]`);
      }
    }
    const indentationLvl = ctx.indentationLvl;
    const seenLength = seen.length;
    try {
      return formatRaw(ctx, value, recurseTimes, typedArray);
    } catch (err) {
      ctx.indentationLvl = indentationLvl;
      seen.length = seenLength;
      return threw(ctx, err);
    }
  }

  function formatRaw(ctx: Ctx, value: object, recurseTimes: number, typedArray: boolean): string {
    const constructor = getConstructorName(value, ctx, recurseTimes);
    const tag = getTag(value, ctx);
    const hints = chainHints(value);
    let keys: PropertyKey[] | undefined;
    let base = '';
    let formatter = formatNothing;
    let open = '{';
    let close = '}';
    let extrasType = OBJECT_TYPE;
    let extraKeys: string[] | undefined;
    let fallback = 'Object';
    let noIterator = true;

    if (constructor === null || SymbolIterator in value) {
      noIterator = false;
      const typedArrayName = TypedArrayTag(value);
      if (ArrayIsArray(value)) {
        fallback = 'Array';
        const length = arrayLength(value);
        const prefix =
          constructor !== 'Array' || tag !== '' ? getPrefix(constructor, tag, 'Array', `(${length})`) : '';
        keys = getNonIndexKeys(ctx, value, length, ctx.showHidden);
        open = `${prefix}[`;
        close = ']';
        if (length === 0 && keys.length === 0) return charge(ctx, `${open}]`);
        extrasType = ARRAY_EXTRAS_TYPE;
        formatter = formatArray;
      } else if (maybe(hints, K_SET) && brand(SetSize, value)) {
        fallback = 'Set';
        const size = SetSize(value);
        const prefix = getPrefix(constructor, tag, 'Set', `(${size})`);
        keys = getKeys(value, ctx.showHidden);
        if (size === 0 && keys.length === 0) return charge(ctx, `${prefix}{}`);
        open = `${prefix}{`;
        formatter = formatSet;
      } else if (maybe(hints, K_MAP) && brand(MapSize, value)) {
        fallback = 'Map';
        const size = MapSize(value);
        const prefix = getPrefix(constructor, tag, 'Map', `(${size})`);
        keys = getKeys(value, ctx.showHidden);
        if (size === 0 && keys.length === 0) return charge(ctx, `${prefix}{}`);
        open = `${prefix}{`;
        formatter = formatMap;
      } else if (typeof typedArrayName === 'string') {
        fallback = typedArrayName;
        const size = TypedArrayLength(value);
        keys = getNonIndexKeys(ctx, value, size, ctx.showHidden);
        const prefix = getPrefix(constructor, tag, constructor === null ? typedArrayName : '', `(${size})`);
        open = `${prefix}[`;
        close = ']';
        if (size === 0 && keys.length === 0 && !ctx.showHidden) return charge(ctx, `${open}]`);
        formatter = formatTypedArray;
        extrasType = ARRAY_EXTRAS_TYPE;
      } else if ((hints & K_MAP_ITERATOR) !== 0) {
        keys = getKeys(value, ctx.showHidden);
        open = `[${tag === 'Map Iterator' || tag === '' ? 'Map Iterator' : `${tag}] [Map Iterator`}] {`;
        formatter = formatItemsUnknown;
      } else if ((hints & K_SET_ITERATOR) !== 0) {
        keys = getKeys(value, ctx.showHidden);
        open = `[${tag === 'Set Iterator' || tag === '' ? 'Set Iterator' : `${tag}] [Set Iterator`}] {`;
        formatter = formatItemsUnknown;
      } else {
        noIterator = true;
      }
    }
    if (noIterator) {
      // A String wrapper lists one key per character: skip them the way arrays skip indices.
      keys =
        maybe(hints, K_STRING) && brand(StringValueOf, value)
          ? getNonIndexKeys(ctx, value, StringValueOf(value).length, ctx.showHidden)
          : getKeys(value, ctx.showHidden);
      if (typeof value === 'function') {
        base = getFunctionBase(value, constructor, tag);
        if (keys.length === 0) return charge(ctx, base);
      } else if (constructor === 'Object') {
        if (isArguments(value)) open = '[Arguments] {';
        else if (tag !== '') open = `${getPrefix(constructor, tag, 'Object')}{`;
        if (keys.length === 0) return charge(ctx, `${open}}`);
      } else if (maybe(hints, K_REGEXP) && brand(RegExpSource, value) && value !== RegExpPrototype) {
        base = regExpToString(value);
        const prefix = getPrefix(constructor, tag, 'RegExp');
        if (prefix !== 'RegExp ') base = `${prefix}${base}`;
        if (keys.length === 0 || recurseTimes > ctx.depth) return charge(ctx, base);
      } else if (isDate(value, hints)) {
        base = NumberIsNaN(DateGetTime(value)) ? DateToString(value) : DateToISOString(value);
        const prefix = getPrefix(constructor, tag, 'Date');
        if (prefix !== 'Date ') base = `${prefix}${base}`;
        if (keys.length === 0) return charge(ctx, base);
      } else if (isError(value)) {
        base = formatError(ctx, value, constructor, tag, keys);
        if (keys.length === 0) return charge(ctx, base);
      } else if (
        (maybe(hints, K_ARRAY_BUFFER) && brand(ArrayBufferByteLength, value)) ||
        (maybe(hints, K_SHARED_ARRAY_BUFFER) && brand(SharedArrayBufferByteLength, value))
      ) {
        const shared = !brand(ArrayBufferByteLength, value);
        const prefix = getPrefix(constructor, tag, shared ? 'SharedArrayBuffer' : 'ArrayBuffer');
        if (!typedArray) formatter = formatArrayBuffer;
        open = `${prefix}{`;
        extraKeys = ['byteLength'];
      } else if (maybe(hints, K_DATA_VIEW) && brand(DataViewByteLength, value)) {
        open = `${getPrefix(constructor, tag, 'DataView')}{`;
        extraKeys = ['byteLength', 'byteOffset', 'buffer'];
      } else if ((hints & K_PROMISE) !== 0) {
        open = `${getPrefix(constructor, tag, 'Promise')}{`;
        if (keys.length === 0) return charge(ctx, `${open}}`);
      } else if (maybe(hints, K_WEAK_SET) && brand(WeakSetHas, value)) {
        open = `${getPrefix(constructor, tag, 'WeakSet')}{`;
        formatter = formatItemsUnknown;
      } else if (maybe(hints, K_WEAK_MAP) && brand(WeakMapHas, value)) {
        open = `${getPrefix(constructor, tag, 'WeakMap')}{`;
        formatter = formatItemsUnknown;
      } else if (constructor === null && tag === 'Module') {
        open = '[Module: null prototype] {';
        if (keys.length === 0) return charge(ctx, `${open}}`);
      } else {
        const boxed = getBoxedBase(ctx, value, hints, keys, constructor, tag);
        if (boxed !== undefined) {
          base = boxed;
          if (keys.length === 0) return charge(ctx, base);
        } else {
          open = `${getPrefix(constructor, tag, 'Object')}{`;
          if (keys.length === 0) return charge(ctx, `${open}}`);
        }
      }
    }
    const allKeys = keys ?? [];

    if (recurseTimes > ctx.depth) {
      let name = StringSlice(getPrefix(constructor, tag, fallback), 0, -1);
      if (constructor !== null) name = `[${name}]`;
      return charge(ctx, name);
    }
    charge(ctx, base + open + close);
    recurseTimes += 1;
    ctx.seen[ctx.seen.length] = value;
    ctx.currentDepth = recurseTimes;
    const output = formatter(ctx, value, recurseTimes);
    if (extraKeys !== undefined) {
      for (let i = 0; i < extraKeys.length && !ctx.budget.stopped; i++) {
        output[output.length] = formatBuiltinProperty(ctx, value, recurseTimes, extraKeys[i] as string);
      }
    }
    const isModule = constructor === null && tag === 'Module';
    for (let i = 0; i < allKeys.length && !ctx.budget.stopped; i++) {
      output[output.length] = formatProperty(
        ctx,
        value,
        recurseTimes,
        allKeys[i] as PropertyKey,
        extrasType,
        undefined,
        isModule,
      );
    }
    let index = 0;
    while (index < ctx.circular.length && ctx.circular[index] !== value) index++;
    if (index < ctx.circular.length) {
      const reference = `<ref *${index + 1}>`;
      base = base === '' ? reference : `${reference} ${base}`;
    }
    ctx.seen.length -= 1;
    return reduceToSingleString(ctx, output, base, open, close, extrasType, recurseTimes, value);
  }

  const regExpToString = (value: object): string => {
    let flags = '';
    for (let i = 0; i < regExpFlagGetters.length; i++) {
      const entry = regExpFlagGetters[i] as [string, Getter<boolean> | undefined];
      const get = entry[1];
      if (get !== undefined && get(value)) flags += entry[0];
    }
    return `/${RegExpSource(value)}/${flags}`;
  };

  /**
   * Node's test on the source after `class`: no `(` before the first `{`, or else (comments
   * ignored) whitespace first and a `{` before any `(`. A method named `class` fails it.
   */
  const isClassSource = (rest: string): boolean => {
    const bracket = StringIndexOf(rest, '{');
    if (bracket === -1) return false;
    if (!StringIncludes(StringSlice(rest, 0, bracket), '(')) return true;
    const first = StringCharCodeAt(rest, 0);
    if (!(first === 32 || (first >= 9 && first <= 13))) return false;
    for (let i = 0; i < rest.length; i++) {
      const c = StringCharCodeAt(rest, i);
      if (c === 123) return true;
      if (c === 40) return false;
      if (c === 47 && StringCharCodeAt(rest, i + 1) === 47) {
        const end = StringIndexOf(rest, '\n', i);
        if (end === -1) return false;
        i = end;
      } else if (c === 47 && StringCharCodeAt(rest, i + 1) === 42) {
        const end = StringIndexOf(rest, '*/', i + 2);
        if (end === -1) return false;
        i = end + 1;
      }
    }
    return false;
  };

  const getClassBase = (value: object, constructor: string | null, tag: string): string => {
    const ownName = functionName(value);
    const name =
      hasOwn(value, 'name') && typeof ownName === 'string' && ownName !== '' ? ownName : '(anonymous)';
    let base = `class ${name}`;
    if (constructor !== 'Function' && constructor !== null) base += ` [${constructor}]`;
    if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
    if (constructor !== null) {
      const superClass = ObjectGetPrototypeOf(value) as object | null;
      const superName = superClass === null ? undefined : lookupData(superClass, 'name');
      if (typeof superName === 'string' && superName !== '') base += ` extends ${superName}`;
    } else {
      base += ' extends [null prototype]';
    }
    return `[${base}]`;
  };

  const getFunctionBase = (value: object, constructor: string | null, tag: string): string => {
    const source = FunctionToString(value);
    if (
      StringStartsWith(source, 'class') &&
      StringEndsWith(source, '}') &&
      isClassSource(StringSlice(source, 5, -1))
    ) {
      return getClassBase(value, constructor, tag);
    }
    const proto = ObjectGetPrototypeOf(value) as object | null;
    let type = 'Function';
    if (proto === GeneratorFunctionPrototype || proto === AsyncGeneratorFunctionPrototype)
      type = `Generator${type}`;
    if (proto === AsyncFunctionPrototype || proto === AsyncGeneratorFunctionPrototype) type = `Async${type}`;
    let base = `[${type}`;
    if (constructor === null) base += ' (null prototype)';
    const name = functionName(value);
    base += typeof name === 'string' && name !== '' ? `: ${name}` : ' (anonymous)';
    base += ']';
    if (constructor !== type && constructor !== null) base += ` ${constructor}`;
    if (tag !== '' && constructor !== tag) base += ` [${tag}]`;
    return base;
  };

  const getBoxedBase = (
    ctx: Ctx,
    value: object,
    hints: number,
    keys: PropertyKey[],
    constructor: string | null,
    tag: string,
  ): string | undefined => {
    const primitive = unbox(value, hints);
    if (primitive === NOT_BOXED) return undefined;
    const type =
      typeof primitive === 'number'
        ? 'Number'
        : typeof primitive === 'string'
          ? 'String'
          : typeof primitive === 'boolean'
            ? 'Boolean'
            : typeof primitive === 'bigint'
              ? 'BigInt'
              : 'Symbol';
    if (type === 'String') {
      // The character indices only repeat the string.
      let kept = 0;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as PropertyKey;
        if (typeof key === 'string' && isIndexKey(key)) continue;
        keys[kept++] = key;
      }
      keys.length = kept;
    }
    let base = `[${type}`;
    if (type !== constructor) base += constructor === null ? ' (null prototype)' : ` (${constructor})`;
    base += `: ${formatPrimitive(ctx, primitive)}]`;
    if (tag !== '' && tag !== constructor) base += ` [${tag}]`;
    return base;
  };

  // ---- Errors.
  const errorToString = (err: object): string => {
    const name = lookupData(err, 'name');
    const message = lookupData(err, 'message');
    const nameText = name === undefined || name === ACCESSOR ? 'Error' : safePrimitiveString(name);
    const messageText = message === undefined || message === ACCESSOR ? '' : safePrimitiveString(message);
    if (nameText === '') return messageText;
    if (messageText === '') return nameText;
    return `${nameText}: ${messageText}`;
  };
  const getStackString = (err: object): string => {
    let stack: unknown;
    try {
      let current: object | null = err;
      for (let steps = 0; current !== null && steps < MAX_PROTO_WALK; steps++) {
        const desc = ObjectGetOwnPropertyDescriptor(current, 'stack');
        if (desc !== undefined) {
          stack = descValue(desc);
          if (stack === ACCESSOR) {
            stack = ErrorStack !== undefined && desc.get === ErrorStackGetter ? ErrorStack(err) : undefined;
          }
          break;
        }
        current = ObjectGetPrototypeOf(current) as object | null;
      }
    } catch {
      stack = undefined;
    }
    return typeof stack === 'string' && stack !== '' ? stack : errorToString(err);
  };
  const identicalSequenceRange = (a: string[], b: string[]): [number, number] => {
    for (let i = 0; i < a.length - 3; i++) {
      let pos = -1;
      for (let j = 0; j < b.length; j++) {
        if (b[j] === a[i]) {
          pos = j;
          break;
        }
      }
      if (pos !== -1) {
        const rest = b.length - pos;
        if (rest > 3) {
          let len = 1;
          const maxLen = MathMin(a.length - i, rest);
          while (maxLen > len && a[i + len] === b[pos + len]) len++;
          if (len > 3) return [len, i];
        }
      }
    }
    return [0, 0];
  };
  /** Node's collapsing of repeated frame blocks (deep recursion), as [offset, length, repeats] triples. */
  const getDuplicateErrorFrameRanges = (frames: string[]): number[] => {
    const result: number[] = [];
    const positionsOf = (line: string): number[] => {
      const positions: number[] = [];
      for (let j = 0; j < frames.length; j++) if (frames[j] === line) positions[positions.length] = j;
      return positions;
    };
    let distinct = 0;
    for (let i = 0; i < frames.length; i++) {
      let first = true;
      for (let j = 0; j < i; j++) {
        if (frames[j] === frames[i]) {
          first = false;
          break;
        }
      }
      if (first) distinct++;
    }
    const minimumDuplicateRange = 3;
    if (frames.length - distinct <= minimumDuplicateRange) return result;
    for (let i = 0; i < frames.length - minimumDuplicateRange; i++) {
      const positions = positionsOf(frames[i] as string);
      if (positions.length === 1 || positions[positions.length - 1] === i) continue;
      let current = 0;
      while (current < positions.length && positions[current] !== i) current++;
      current += 1;
      if (current === positions.length) continue;
      let range = (positions[positions.length - 1] as number) - i;
      if (range < minimumDuplicateRange) continue;
      let extraSteps: number[] | undefined;
      if (current + 1 < positions.length) {
        let gcdRange = 0;
        for (let j = current; j < positions.length; j++) {
          let distance = (positions[j] as number) - i;
          while (distance !== 0) {
            const remainder = gcdRange % distance;
            if (gcdRange !== 0) {
              extraSteps ??= [];
              let known = false;
              for (let k = 0; k < extraSteps.length; k++) if (extraSteps[k] === gcdRange) known = true;
              if (!known) extraSteps[extraSteps.length] = gcdRange;
            }
            gcdRange = distance;
            distance = remainder;
          }
          if (gcdRange === 1) break;
        }
        range = gcdRange;
        if (extraSteps !== undefined) {
          const kept: number[] = [];
          for (let k = 0; k < extraSteps.length; k++) {
            if (extraSteps[k] !== range) kept[kept.length] = extraSteps[k] as number;
          }
          extraSteps = kept;
        }
      }
      let maxRange = range;
      let maxDuplicates = 0;
      let duplicateRanges = 0;
      for (let nextStart = i + range; ; nextStart += range) {
        let equalFrames = 0;
        for (let j = 0; j < range; j++) {
          if (frames[i + j] !== frames[nextStart + j]) break;
          equalFrames++;
        }
        if (equalFrames !== range) {
          if (extraSteps === undefined || extraSteps.length === 0) break;
          if (duplicateRanges !== 0 && maxRange * maxDuplicates < range * duplicateRanges) {
            maxRange = range;
            maxDuplicates = duplicateRanges;
          }
          range = extraSteps[extraSteps.length - 1] as number;
          extraSteps.length -= 1;
          nextStart = i;
          duplicateRanges = 0;
          continue;
        }
        duplicateRanges++;
      }
      if (maxDuplicates !== 0 && maxRange * maxDuplicates >= range * duplicateRanges) {
        range = maxRange;
        duplicateRanges = maxDuplicates;
      }
      if (duplicateRanges * range >= 3) {
        result[result.length] = i + range;
        result[result.length] = range;
        result[result.length] = duplicateRanges;
        i += range * (duplicateRanges + 1) - 1;
      }
    }
    return result;
  };
  const splice = (list: string[], start: number, deleteCount: number, item: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < start && i < list.length; i++) out[out.length] = list[i] as string;
    out[out.length] = item;
    for (let i = start + deleteCount; i < list.length; i++) out[out.length] = list[i] as string;
    return out;
  };
  const getStackFrames = (err: object, stack: string): string[] => {
    let frames = splitOn(stack, '\n');
    // Quadratic helpers below: leave pathological (user-written) stacks alone.
    if (frames.length > 200) return frames;
    let cause: unknown;
    try {
      cause = lookupData(err, 'cause');
    } catch {
      cause = undefined;
    }
    if (isObjectLike(cause) && isError(cause)) {
      const causeStack = getStackString(cause);
      const causeStackStart = StringIndexOf(causeStack, '\n    at');
      if (causeStackStart !== -1) {
        const causeFrames = splitOn(StringSlice(causeStack, causeStackStart + 1), '\n');
        const range = identicalSequenceRange(frames, causeFrames);
        const len = range[0];
        if (len > 0) {
          const skipped = len - 2;
          frames = splice(
            frames,
            range[1] + 1,
            skipped,
            `    ... ${skipped} lines matching cause stack trace ...`,
          );
        }
      }
    }
    if (frames.length > 10) {
      const ranges = getDuplicateErrorFrameRanges(frames);
      for (let i = ranges.length - 3; i >= 0; i -= 3) {
        const offset = ranges[i] as number;
        const length = ranges[i + 1] as number;
        const repeats = ranges[i + 2] as number;
        const message =
          `    ... collapsed ${length * repeats} duplicate lines matching above ` +
          (repeats > 1 ? `${length} lines ${repeats} times...` : 'lines ...');
        frames = splice(frames, offset, length * repeats, message);
      }
    }
    return frames;
  };
  const improveStack = (stack: string, constructor: string | null, name: string, tag: string): string => {
    let len = name.length;
    if (
      constructor === null ||
      (StringEndsWith(name, 'Error') &&
        StringStartsWith(stack, name) &&
        (stack.length === len || stack[len] === ':' || stack[len] === '\n'))
    ) {
      let fallback = 'Error';
      if (constructor === null) {
        const start =
          RegExpExec(/^([A-Z][a-z_ A-Z0-9[\]()-]+)(?::|\n {4}at)/, stack) ??
          RegExpExec(/^([a-z_A-Z0-9-]*Error)$/, stack);
        fallback = start?.[1] ?? '';
        len = fallback.length;
        fallback = fallback === '' ? 'Error' : fallback;
      }
      const prefix = StringSlice(getPrefix(constructor, tag, fallback), 0, -1);
      if (name !== prefix) {
        if (StringIncludes(prefix, name)) {
          stack = len === 0 ? `${prefix}: ${stack}` : `${prefix}${StringSlice(stack, len)}`;
        } else {
          stack = `${prefix} [${name}]${StringSlice(stack, len)}`;
        }
      }
    }
    return stack;
  };
  const removeKey = (keys: PropertyKey[], key: string): void => {
    let kept = 0;
    let removed = false;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as PropertyKey;
      if (!removed && k === key) {
        removed = true;
        continue;
      }
      keys[kept++] = k;
    }
    keys.length = kept;
  };
  const includesKey = (keys: PropertyKey[], key: string): boolean => {
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) return true;
    return false;
  };
  function formatError(
    ctx: Ctx,
    err: object,
    constructor: string | null,
    tag: string,
    keys: PropertyKey[],
  ): string {
    let stack = getStackString(err);
    // A stack the size of the whole budget is cut here, before any line-by-line work.
    const room = maxOutputLength - ctx.budget.used + 1;
    if (stack.length > room) {
      stack = StringSlice(stack, 0, MathMax(room, 0));
      ctx.budget.stopped = true;
    }
    const message = lookupData(err, 'message');
    const name = lookupData(err, 'name');
    if (!ctx.showHidden && keys.length !== 0) {
      removeKey(keys, 'stack');
      if (message !== ACCESSOR && includesKey(keys, 'message')) {
        if (typeof message !== 'string' || StringIncludes(stack, message)) removeKey(keys, 'message');
      }
      if (name !== ACCESSOR && includesKey(keys, 'name')) {
        if (typeof name !== 'string' || StringIncludes(stack, name)) removeKey(keys, 'name');
      }
    }
    if (hasOwn(err, 'cause') && !includesKey(keys, 'cause')) keys[keys.length] = 'cause';
    const errors = lookupData(err, 'errors');
    if (ArrayIsArray(errors) && hasOwn(err, 'errors') && !includesKey(keys, 'errors'))
      keys[keys.length] = 'errors';
    if (typeof name === 'string') stack = improveStack(stack, constructor, name, tag);
    else if (name === undefined || name === null) stack = improveStack(stack, constructor, 'Error', tag);

    let pos = (typeof message === 'string' && message !== '' && StringIndexOf(stack, message)) || -1;
    if (pos !== -1) pos += (message as string).length;
    const stackStart = StringIndexOf(stack, '\n    at', pos);
    if (stackStart === -1) {
      stack = `[${stack}]`;
    } else {
      const frames = getStackFrames(err, StringSlice(stack, stackStart + 1));
      stack = `${StringSlice(stack, 0, stackStart)}\n${join(frames, '\n')}`;
    }
    if (ctx.indentationLvl !== 0)
      stack = replaceNewlines(stack, `\n${StringRepeat(' ', ctx.indentationLvl)}`);
    return stack;
  }

  // ---- Collections.
  function formatArray(ctx: Ctx, value: object, recurseTimes: number): string[] {
    const valLen = arrayLength(value);
    const len = MathMin(maxArrayLength, valLen);
    const output: string[] = [];
    for (let i = 0; i < len; i++) {
      if (ctx.budget.stopped) return output;
      const desc = ObjectGetOwnPropertyDescriptor(value, i);
      if (desc === undefined) return formatSparseArray(ctx, value, recurseTimes, len, valLen, output, i);
      output[output.length] = formatProperty(ctx, value, recurseTimes, i, ARRAY_TYPE, desc);
    }
    if (valLen > len) output[output.length] = charge(ctx, remainingText(valLen - len));
    return output;
  }

  const emptyItems = (count: number): string => `<${count} empty item${count > 1 ? 's' : ''}>`;

  /** The array has a hole at `start`: list the rest as elements and `<N empty items>` runs. */
  function formatSparseArray(
    ctx: Ctx,
    value: object,
    recurseTimes: number,
    maxLength: number,
    valLen: number,
    output: string[],
    start: number,
  ): string[] {
    // Probe index by index (cheap for dense arrays with a few holes); past the allowance, ask
    // for the key list, whose cost is the number of elements rather than the length.
    let index = start;
    let probes = 0;
    let holeStart = start;
    while (index < valLen && output.length < maxLength && probes < HOLE_SCAN_LIMIT) {
      if (ctx.budget.stopped) return output;
      probes++;
      const desc = ObjectGetOwnPropertyDescriptor(value, index);
      if (desc === undefined) {
        index++;
        continue;
      }
      if (holeStart !== index) {
        output[output.length] = charge(ctx, emptyItems(index - holeStart));
        if (output.length === maxLength) {
          holeStart = index;
          break;
        }
      }
      output[output.length] = formatProperty(ctx, value, recurseTimes, index, ARRAY_TYPE, desc);
      index++;
      holeStart = index;
    }
    if (index < valLen && output.length < maxLength && probes >= HOLE_SCAN_LIMIT) {
      const keys = ObjectKeys(value);
      let k = 0;
      while (k < keys.length && NumberCtor(keys[k]) < holeStart) k++;
      for (; k < keys.length && output.length < maxLength; k++) {
        if (ctx.budget.stopped) return output;
        const key = keys[k] as string;
        if (!isIndexKey(key)) break;
        const at = NumberCtor(key);
        if (at !== holeStart) {
          output[output.length] = charge(ctx, emptyItems(at - holeStart));
          holeStart = at;
          if (output.length === maxLength) break;
        }
        output[output.length] = formatProperty(ctx, value, recurseTimes, key, ARRAY_TYPE);
        holeStart = at + 1;
      }
    }
    const remaining = valLen - holeStart;
    if (output.length !== maxLength) {
      if (remaining > 0) output[output.length] = charge(ctx, emptyItems(remaining));
    } else if (remaining > 0) {
      output[output.length] = charge(ctx, remainingText(remaining));
    }
    return output;
  }

  function formatTypedArray(ctx: Ctx, value: object, recurseTimes: number): string[] {
    const length = TypedArrayLength(value);
    const maxLength = MathMin(maxArrayLength, length);
    const output: string[] = [];
    const elements = value as Record<number, number | bigint>;
    for (let i = 0; i < maxLength && !ctx.budget.stopped; i++) {
      const element = elements[i] as number | bigint;
      output[output.length] = charge(
        ctx,
        typeof element === 'bigint' ? formatBigInt(element) : formatNumber(element),
      );
      ctx.budget.used += 2;
    }
    if (length > maxLength) output[output.length] = charge(ctx, remainingText(length - maxLength));
    if (ctx.showHidden) {
      const name = TypedArrayTag(value) as string;
      const bytes = StringIncludes(name, '8')
        ? 1
        : StringIncludes(name, '16')
          ? 2
          : StringIncludes(name, '32')
            ? 4
            : 8;
      ctx.indentationLvl += 2;
      output[output.length] = `[BYTES_PER_ELEMENT]: ${formatValue(ctx, bytes, recurseTimes)}`;
      output[output.length] = `[length]: ${formatValue(ctx, length, recurseTimes)}`;
      output[output.length] = `[byteLength]: ${formatValue(ctx, TypedArrayByteLength(value), recurseTimes)}`;
      output[output.length] = `[byteOffset]: ${formatValue(ctx, TypedArrayByteOffset(value), recurseTimes)}`;
      output[output.length] = `[buffer]: ${formatValue(ctx, TypedArrayBuffer(value), recurseTimes, true)}`;
      ctx.indentationLvl -= 2;
    }
    return output;
  }

  function formatArrayBuffer(ctx: Ctx, value: object): string[] {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8ArrayCtor(value as ArrayBuffer);
    } catch {
      return [charge(ctx, '(detached)')];
    }
    const shown = MathMin(maxArrayLength, bytes.length);
    let text = '';
    for (let i = 0; i < shown; i++) text += i === 0 ? hex(bytes[i] as number) : ` ${hex(bytes[i] as number)}`;
    const remaining = bytes.length - maxArrayLength;
    if (remaining > 0) text += ` ... ${remaining} more byte${remaining > 1 ? 's' : ''}`;
    return [charge(ctx, `[Uint8Contents]: <${text}>`)];
  }

  function formatBuiltinProperty(ctx: Ctx, value: object, recurseTimes: number, key: string): string {
    let result: unknown;
    if (brand(DataViewByteLength, value)) {
      result =
        key === 'byteLength'
          ? DataViewByteLength(value)
          : key === 'byteOffset'
            ? DataViewByteOffset(value)
            : DataViewBuffer(value);
    } else if (brand(ArrayBufferByteLength, value)) {
      result = ArrayBufferByteLength(value);
    } else if (SharedArrayBufferByteLength !== undefined) {
      result = SharedArrayBufferByteLength(value);
    }
    ctx.indentationLvl += 2;
    const str = formatValue(ctx, result, recurseTimes);
    ctx.indentationLvl -= 2;
    return `${charge(ctx, `[${key}]`)}: ${str}`;
  }

  function formatSet(ctx: Ctx, value: object, recurseTimes: number): string[] {
    const size = SetSize(value);
    const maxLength = MathMin(maxArrayLength, size);
    const output: string[] = [];
    const iterator = SetValues(value);
    ctx.indentationLvl += 2;
    for (let i = 0; i < maxLength && !ctx.budget.stopped; i++) {
      const step = SetIteratorNext(iterator);
      if (step.done === true) break;
      output[output.length] = formatValue(ctx, step.value, recurseTimes);
    }
    if (size > maxLength) output[output.length] = charge(ctx, remainingText(size - maxLength));
    ctx.indentationLvl -= 2;
    return output;
  }

  function formatMap(ctx: Ctx, value: object, recurseTimes: number): string[] {
    const size = MapSize(value);
    const maxLength = MathMin(maxArrayLength, size);
    const output: string[] = [];
    const iterator = MapEntries(value);
    ctx.indentationLvl += 2;
    for (let i = 0; i < maxLength && !ctx.budget.stopped; i++) {
      const step = MapIteratorNext(iterator);
      if (step.done === true) break;
      const entry = step.value;
      const k = formatValue(ctx, entry[0], recurseTimes);
      output[output.length] = `${k} => ${formatValue(ctx, entry[1], recurseTimes)}`;
    }
    if (size > maxLength) output[output.length] = charge(ctx, remainingText(size - maxLength));
    ctx.indentationLvl -= 2;
    return output;
  }

  function formatItemsUnknown(ctx: Ctx): string[] {
    return [charge(ctx, '<items unknown>')];
  }

  function formatProperty(
    ctx: Ctx,
    value: object,
    recurseTimes: number,
    key: PropertyKey,
    type: number,
    desc?: PropertyDescriptor,
    isModule = false,
  ): string {
    let str: string;
    let enumerable = true;
    try {
      desc ??= ObjectGetOwnPropertyDescriptor(value, key);
      if (desc === undefined) {
        str = charge(ctx, 'undefined');
      } else {
        enumerable = desc.enumerable !== false;
        const data = descValue(desc);
        if (data !== ACCESSOR) {
          ctx.indentationLvl += 2;
          str = formatValue(ctx, data, recurseTimes);
          ctx.indentationLvl -= 2;
        } else {
          const hasGet = desc.get !== undefined;
          const hasSet = desc.set !== undefined;
          str = charge(
            ctx,
            hasGet ? (hasSet ? '[Getter/Setter]' : '[Getter]') : hasSet ? '[Setter]' : 'undefined',
          );
        }
      }
    } catch (err) {
      str = isModule ? charge(ctx, '<uninitialized>') : threw(ctx, err);
    }
    if (type === ARRAY_TYPE) return str;
    let name: string;
    if (typeof key === 'symbol') {
      name = escapeText(SymbolToString(key), 39);
    } else {
      const text = typeof key === 'string' ? key : `${key}`;
      if (isIdentifier(text)) name = text === '__proto__' ? "['__proto__']" : text;
      else name = strEscape(text);
    }
    if (!enumerable) name = `[${name}]`;
    charge(ctx, name);
    return `${name}: ${str}`;
  }

  // ---- Layout (Node's `compact: 3` mode).
  const isBelowBreakLength = (ctx: Ctx, output: string[], start: number, base: string): boolean => {
    let totalLength = output.length + start;
    if (totalLength + output.length > breakLength) return false;
    for (let i = 0; i < output.length; i++) {
      totalLength += (output[i] as string).length;
      if (totalLength > breakLength) return false;
    }
    return base === '' || !StringIncludes(base, '\n');
  };

  const elementIsNumeric = (value: object, index: number): boolean => {
    try {
      const desc = ObjectGetOwnPropertyDescriptor(value, index);
      if (desc === undefined) return false;
      const data = descValue(desc);
      return typeof data === 'number' || typeof data === 'bigint';
    } catch {
      return false;
    }
  };

  function groupArrayElements(ctx: Ctx, output: string[], value: object | undefined): string[] {
    let totalLength = 0;
    let maxLength = 0;
    let outputLength = output.length;
    // The "... more items" entry does not take part in the columns.
    if (maxArrayLength < output.length) outputLength--;
    const separatorSpace = 2;
    const dataLen: number[] = [];
    for (let i = 0; i < outputLength; i++) {
      const len = (output[i] as string).length;
      dataLen[i] = len;
      totalLength += len + separatorSpace;
      if (maxLength < len) maxLength = len;
    }
    const actualMax = maxLength + separatorSpace;
    if (actualMax * 3 + ctx.indentationLvl < breakLength && (totalLength / actualMax > 5 || maxLength <= 6)) {
      const averageBias = MathSqrt(actualMax - totalLength / output.length);
      const biasedMax = MathMax(actualMax - 3 - averageBias, 1);
      const columns = MathMin(
        MathRound(MathSqrt(2.5 * biasedMax * outputLength) / biasedMax),
        MathFloor((breakLength - ctx.indentationLvl) / actualMax),
        COMPACT * 4,
        15,
      );
      if (columns <= 1) return output;
      const tmp: string[] = [];
      const maxLineLength: number[] = [];
      for (let i = 0; i < columns; i++) {
        let lineLength = 0;
        for (let j = i; j < output.length; j += columns) {
          const len = dataLen[j];
          if (len !== undefined && len > lineLength) lineLength = len;
        }
        maxLineLength[i] = lineLength + separatorSpace;
      }
      let padStart = true;
      if (value !== undefined) {
        for (let i = 0; i < output.length; i++) {
          if (!elementIsNumeric(value, i)) {
            padStart = false;
            break;
          }
        }
      }
      for (let i = 0; i < outputLength; i += columns) {
        const max = MathMin(i + columns, outputLength);
        let str = '';
        let j = i;
        for (; j < max - 1; j++) {
          const padding = maxLineLength[j - i] as number;
          const cell = `${output[j]}, `;
          str += padStart ? StringPadStart(cell, padding, ' ') : StringPadEnd(cell, padding, ' ');
        }
        if (padStart) {
          str += StringPadStart(output[j], (maxLineLength[j - i] as number) - separatorSpace, ' ');
        } else {
          str += output[j] as string;
        }
        tmp[tmp.length] = str;
      }
      if (maxArrayLength < output.length) tmp[tmp.length] = output[outputLength] as string;
      return tmp;
    }
    return output;
  }

  function reduceToSingleString(
    ctx: Ctx,
    output: string[],
    base: string,
    open: string,
    close: string,
    extrasType: number,
    recurseTimes: number,
    value: object | undefined,
  ): string {
    const entries = output.length;
    if (extrasType === ARRAY_EXTRAS_TYPE && entries > 6) output = groupArrayElements(ctx, output, value);
    // Entries up to `COMPACT` levels deep share one line when they fit in `breakLength`.
    if (ctx.currentDepth - recurseTimes < COMPACT && entries === output.length) {
      const start = output.length + ctx.indentationLvl + open.length + base.length + 10;
      if (isBelowBreakLength(ctx, output, start, base)) {
        const joined = join(output, ', ');
        if (!StringIncludes(joined, '\n')) return `${base ? `${base} ` : ''}${open} ${joined} ${close}`;
      }
    }
    const indentation = `\n${StringRepeat(' ', ctx.indentationLvl)}`;
    return `${base ? `${base} ` : ''}${open}${indentation}  ${join(output, `,${indentation}  `)}${indentation}${close}`;
  }

  // ---- JSON for `%j`, without toJSON calls or getters.
  const JSON_CIRCULAR = new TypeErrorCtor('circular structure');
  /** Counts an item; nested containers were counted while they were built. */
  const jsonCharge = (budget: Budget, item: string, extra: number): void => {
    const nested = item[0] === '[' || item[0] === '{';
    budget.used += (nested ? 2 : item.length) + extra;
    if (budget.used > maxOutputLength) budget.stopped = true;
  };
  function jsonValue(value: unknown, stack: object[], budget: Budget, inArray: boolean): string | undefined {
    if (budget.stopped) return '';
    if (typeof value === 'string') return JSONStringify(value);
    if (typeof value === 'number')
      return value === value && value !== Infinity && value !== -Infinity ? `${value}` : 'null';
    if (typeof value === 'boolean') return value ? 'true' : 'false';
    if (typeof value === 'bigint') throw new TypeErrorCtor('Do not know how to serialize a BigInt');
    if (value === null) return 'null';
    if (!isObjectLike(value) || typeof value === 'function') return inArray ? 'null' : undefined;
    for (let i = 0; i < stack.length; i++) if (stack[i] === value) throw JSON_CIRCULAR;
    if (stack.length >= JSON_MAX_DEPTH)
      throw new RangeErrorCtor(`JSON nesting exceeds ${JSON_MAX_DEPTH} levels`);
    const hints = chainHints(value);
    if (isDate(value, hints)) {
      return NumberIsNaN(DateGetTime(value)) ? 'null' : JSONStringify(DateToISOString(value));
    }
    const primitive = unbox(value, hints);
    if (primitive !== NOT_BOXED && typeof primitive !== 'symbol')
      return jsonValue(primitive, stack, budget, inArray);
    stack[stack.length] = value;
    let out: string;
    if (ArrayIsArray(value)) {
      const length = arrayLength(value);
      out = '[';
      for (let i = 0; i < length; i++) {
        if (budget.stopped) break;
        const desc = ObjectGetOwnPropertyDescriptor(value, i);
        const data = desc === undefined ? undefined : descValue(desc);
        const item = data === ACCESSOR ? 'null' : (jsonValue(data, stack, budget, true) ?? 'null');
        out += i === 0 ? item : `,${item}`;
        jsonCharge(budget, item, i === 0 ? 0 : 1);
      }
      out += ']';
    } else {
      const keys = ObjectKeys(value);
      out = '{';
      let first = true;
      for (let i = 0; i < keys.length; i++) {
        if (budget.stopped) break;
        const key = keys[i] as string;
        const desc = ObjectGetOwnPropertyDescriptor(value, key);
        if (desc === undefined) continue;
        const data = descValue(desc);
        if (data === ACCESSOR) continue;
        const item = jsonValue(data, stack, budget, false);
        if (item === undefined) continue;
        const entry = `${JSONStringify(key)}:${item}`;
        out += first ? entry : `,${entry}`;
        jsonCharge(budget, item, key.length + (first ? 3 : 4));
        first = false;
      }
      out += '}';
    }
    stack.length -= 1;
    return out;
  }
  const toJson = (value: unknown, budget: Budget): string => {
    try {
      const out = jsonValue(value, [], budget, false);
      return out === undefined ? 'undefined' : out;
    } catch (err) {
      if (err === JSON_CIRCULAR) return '[Circular]';
      return `[Inspection threw: ${describeThrown(err)}]`;
    }
  };

  // ---- Number conversions for %d, %i, %f without valueOf/toString calls.
  const toPrimitiveSafe = (value: unknown, hint: 'number' | 'string'): unknown => {
    if (!isObjectLike(value)) return value;
    const hints = chainHints(value);
    const primitive = unbox(value, hints);
    if (primitive !== NOT_BOXED) return primitive;
    if (isDate(value, hints)) return hint === 'number' ? DateGetTime(value) : DateToString(value);
    return NaN;
  };
  const toNumberSafe = (value: unknown): number => {
    const primitive = toPrimitiveSafe(value, 'number');
    return typeof primitive === 'symbol' ? NaN : NumberCtor(primitive);
  };
  const toStringSafe = (value: unknown): string => {
    const primitive = toPrimitiveSafe(value, 'string');
    return typeof primitive === 'symbol' ? 'NaN' : `${primitive as string}`;
  };

  // ---- Entry points.
  /** Cuts `text` at the limit; `extra` counts characters known to follow it but never built. */
  const finish = (text: string, budget: Budget, extra = 0): string => {
    if (text.length > maxOutputLength) {
      let cut = maxOutputLength;
      const last = StringCharCodeAt(text, cut - 1);
      if (last >= 0xd800 && last <= 0xdbff) cut--;
      const dropped = text.length - cut + extra;
      return `${StringSlice(text, 0, cut)}${budget.stopped ? '… [truncated]' : `… [truncated ${dropped} chars]`}`;
    }
    return budget.stopped ? `${text}… [truncated]` : text;
  };
  const inspectWith = (value: unknown, budget: Budget, depth: number, showHidden: boolean): string =>
    formatValue(newCtx(budget, depth, showHidden), value, 0);

  const formatArgs = (args: readonly unknown[]): string => {
    const budget = newBudget();
    const count = args.length;
    const first = args[0];
    let a = 0;
    let str = '';
    let joiner = '';
    const full = (): boolean => str.length > maxOutputLength || budget.stopped;
    if (typeof first === 'string') {
      if (count === 1) return finish(first, budget);
      let lastPos = 0;
      let tempStr: string;
      let i = 0;
      for (; i < first.length - 1 && !full(); i++) {
        if (StringCharCodeAt(first, i) !== 37) continue;
        const nextChar = StringCharCodeAt(first, ++i);
        if (a + 1 !== count) {
          budget.used = str.length;
          switch (nextChar) {
            case 115: {
              // %s
              const arg = args[++a];
              if (typeof arg === 'number') tempStr = formatNumber(arg);
              else if (typeof arg === 'bigint') tempStr = formatBigInt(arg);
              else if (typeof arg === 'function') tempStr = FunctionToString(arg);
              else if (typeof arg !== 'object' || arg === null) tempStr = safePrimitiveString(arg);
              else tempStr = inspectWith(arg, budget, 0, false);
              break;
            }
            case 106: // %j
              tempStr = toJson(args[++a], budget);
              break;
            case 100: {
              // %d
              const arg = args[++a];
              tempStr = typeof arg === 'bigint' ? formatBigInt(arg) : formatNumber(toNumberSafe(arg));
              break;
            }
            case 79: // %O
              tempStr = inspectWith(args[++a], budget, depthOption, false);
              break;
            case 111: // %o
              tempStr = inspectWith(args[++a], budget, 4, true);
              break;
            case 105: {
              // %i
              const arg = args[++a];
              tempStr =
                typeof arg === 'bigint'
                  ? formatBigInt(arg)
                  : typeof arg === 'symbol'
                    ? 'NaN'
                    : formatNumber(NumberParseInt(toStringSafe(arg)));
              break;
            }
            case 102: {
              // %f
              const arg = args[++a];
              tempStr = typeof arg === 'symbol' ? 'NaN' : formatNumber(NumberParseFloat(toStringSafe(arg)));
              break;
            }
            case 99: // %c: CSS, meaningless here
              a += 1;
              tempStr = '';
              break;
            case 37: // %%
              str += StringSlice(first, lastPos, i);
              lastPos = i + 1;
              continue;
            default:
              continue;
          }
          if (lastPos !== i - 1) str += StringSlice(first, lastPos, i - 1);
          str += tempStr;
          lastPos = i + 1;
        } else if (nextChar === 37) {
          str += StringSlice(first, lastPos, i);
          lastPos = i + 1;
        }
      }
      // Specifiers left unread past the limit would have consumed arguments: the count is unknown.
      if (i < first.length - 1 && StringIndexOf(first, '%', i) !== -1) budget.stopped = true;
      if (lastPos !== 0) {
        a++;
        joiner = ' ';
        if (lastPos < first.length) str += StringSlice(first, lastPos);
      }
    }
    while (a < count && !full()) {
      const value = args[a];
      str += joiner;
      budget.used = str.length;
      str += typeof value !== 'string' ? inspectWith(value, budget, depthOption, false) : value;
      joiner = ' ';
      a++;
    }
    // Past the limit, leftover strings still count exactly; anything else makes the count unknown.
    let extra = 0;
    for (; a < count && !budget.stopped; a++) {
      const value = args[a];
      if (typeof value !== 'string') budget.stopped = true;
      else extra += joiner.length + value.length;
      joiner = ' ';
    }
    return finish(str, budget, extra);
  };

  return {
    format(args: readonly unknown[]): string {
      try {
        return formatArgs(args);
      } catch (err) {
        try {
          return `[Inspection threw: ${describeThrown(err)}]`;
        } catch {
          return '[Inspection threw]';
        }
      }
    },
    inspect(value: unknown): string {
      try {
        const budget = newBudget();
        return finish(inspectWith(value, budget, depthOption, false), budget);
      } catch (err) {
        try {
          return `[Inspection threw: ${describeThrown(err)}]`;
        } catch {
          return '[Inspection threw]';
        }
      }
    },
  };
}
