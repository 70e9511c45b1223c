/**
 * The WebAssembly shims of every context: the async APIs can stall inside an isolate, so they are
 * built on the sync ones, and memory outside the V8 heap is capped and counted. V8 installs
 * `WebAssembly` when a context is created, after the prelude snapshot is deserialised, so these
 * run per context at connect time (see prelude-snapshot.ts). Serialised with toString:
 * self-contained, no imports.
 *
 * WebAssembly memories and resizable ArrayBuffers / growable SharedArrayBuffers are allocated
 * past isolated-vm's allocator: neither the isolate's heap cap nor its heap statistics see them.
 * So every one user code can reach (created with `new`, exported by an instance, or the result of
 * transferring a resizable buffer) is tracked here: together they may hold at most `maxWasmPages`
 * pages, checked whenever JavaScript creates or grows one, and the returned function tells the
 * host how many bytes they hold now (the live-heap budget counts them). A memory a module keeps
 * to itself (not exported) and growth from inside wasm code are not seen here; `--wasm-max-mem-pages`
 * bounds each memory, and the runner's RSS guard evicts live isolates when the process grows.
 */
export function installWasmShims(g: Record<string, unknown>, maxWasmPages: number): () => number {
  // (Typed loosely: the project's lib has no WebAssembly declarations.)
  type Fn = (this: unknown, ...args: never[]) => unknown;
  type Ctor = (new (...args: never[]) => object) & { prototype: object };
  interface Wasm {
    Memory: Ctor;
    Module: Ctor;
    Instance: Ctor;
    [api: string]: unknown;
  }
  interface Held {
    ref: WeakRef<object>;
    bytes: (o: object) => number;
  }
  const PAGE = 65536;
  const capBytes = maxWasmPages * PAGE;
  /** Tracked objects alive at once: keeps the host's measurement call short. */
  const MAX_TRACKED = 10_000;

  // Intrinsics captured before user code runs: the accounting must not be steerable by it.
  const reflectApply = Reflect.apply;
  const reflectConstruct = Reflect.construct;
  const getDescriptor = Object.getOwnPropertyDescriptor;
  const define = Object.defineProperty;
  const ownKeys = Reflect.ownKeys;
  const NumberOf = Number;
  const BigIntOf = BigInt;
  const RangeErrorCtor = RangeError;
  const TypeErrorCtor = TypeError;
  const WeakRefCtor = WeakRef;
  const call = <R>(fn: Fn, self: unknown, ...args: unknown[]): R => reflectApply(fn, self, args) as R;
  const construct = (Real: Ctor, args: unknown[], target: unknown): object =>
    reflectConstruct(Real, args, target as Ctor) as object;
  const method = (o: object, key: PropertyKey): Fn => getDescriptor(o, key)!.value as Fn;
  const getter = (o: object, key: PropertyKey): Fn => (getDescriptor(o, key) as { get: Fn }).get;
  const deref = method(WeakRefCtor.prototype, 'deref');
  const mapSet = method(Map.prototype, 'set');
  const mapDelete = method(Map.prototype, 'delete');
  const mapForEach = method(Map.prototype, 'forEach');
  const mapSize = getter(Map.prototype, 'size');
  const weakHas = method(WeakSet.prototype, 'has');
  const weakAdd = method(WeakSet.prototype, 'add');
  const held = new Map<number, Held>();
  const tracked = new WeakSet<object>();
  let nextKey = 0;

  const RealAB = g.ArrayBuffer as Ctor;
  const abProto = RealAB.prototype;
  const abBytes = getter(abProto, 'byteLength');
  const RealSAB = g.SharedArrayBuffer as Ctor | undefined;
  const sabBytes = RealSAB ? getter(RealSAB.prototype, 'byteLength') : undefined;
  const bufferBytes = (buffer: unknown): number => {
    try {
      return call<number>(abBytes, buffer);
    } catch {
      return sabBytes ? call<number>(sabBytes, buffer) : 0;
    }
  };

  /** Bytes the tracked objects hold now; forgets the ones collected. */
  const total = (): number => {
    let sum = 0;
    call(mapForEach, held, (entry: Held, key: number) => {
      const o = call<object | undefined>(deref, entry.ref);
      if (o === undefined) call(mapDelete, held, key);
      else sum += entry.bytes(o);
    });
    return sum;
  };
  const refuse = (): never => {
    throw new RangeErrorCtor(
      `WebAssembly memories and resizable buffers may hold at most ${maxWasmPages} pages (${capBytes} bytes) together`,
    );
  };
  /** Throws unless `more` bytes fit beside what the tracked objects hold. */
  const reserve = (more: number): void => {
    if (more > 0 && total() + more > capBytes) refuse();
  };
  const isTracked = (o: unknown): boolean => call<boolean>(weakHas, tracked, o);
  const track = (o: object, bytes: (o: object) => number): void => {
    if (isTracked(o)) return;
    if (call<number>(mapSize, held) >= MAX_TRACKED) {
      total();
      if (call<number>(mapSize, held) >= MAX_TRACKED) {
        throw new RangeErrorCtor(
          `more than ${MAX_TRACKED} WebAssembly memories and resizable buffers at once`,
        );
      }
    }
    call(weakAdd, tracked, o);
    call(mapSet, held, nextKey++, { ref: new WeakRefCtor(o), bytes } satisfies Held);
  };
  /** Replaces `proto[name]` with `fn`, keeping the property non-enumerable like the original. */
  const patch = (proto: object, name: string, fn: unknown): void => {
    define(proto, name, { value: fn, writable: true, enumerable: false, configurable: true });
  };
  /** Makes `Safe` stand in for `Real`: same prototype, and the prototype's constructor is `Safe`. */
  const standIn = (Safe: object, Real: Ctor): void => {
    define(Safe, 'prototype', {
      value: Real.prototype,
      writable: false,
      enumerable: false,
      configurable: false,
    });
    patch(Real.prototype, 'constructor', Safe);
  };

  // Resizable ArrayBuffers and growable SharedArrayBuffers: counted from creation, checked on growth.
  const resizableShim = (Real: Ctor, bytesOf: Fn, growName: string, name: string): Ctor => {
    const bytes = (o: object): number => call<number>(bytesOf, o);
    const Safe = {
      [name]: function (length?: unknown, options?: unknown): object {
        if (new.target === undefined) throw new TypeErrorCtor(`Constructor ${name} requires 'new'`);
        const max =
          options !== null && typeof options === 'object'
            ? (options as { maxByteLength?: unknown }).maxByteLength
            : undefined;
        if (max === undefined) return construct(Real, [length], new.target);
        // Read once and passed on as numbers: a getter or valueOf cannot tell the check one size and V8 another.
        const size = NumberOf(length);
        reserve(size);
        const o = construct(Real, [size, { maxByteLength: NumberOf(max) }], new.target);
        track(o, bytes);
        return o;
      },
    }[name]!;
    for (const key of ownKeys(Real)) {
      if (key !== 'prototype' && key !== 'length' && key !== 'name')
        define(Safe, key, getDescriptor(Real, key)!);
    }
    standIn(Safe, Real);
    const realGrow = method(Real.prototype, growName);
    patch(
      Real.prototype,
      growName,
      {
        [growName](this: object, newLength: unknown): unknown {
          const n = NumberOf(newLength);
          reserve(n - bytes(this));
          return call(realGrow, this, n);
        },
      }[growName],
    );
    return Safe as unknown as Ctor;
  };
  g.ArrayBuffer = resizableShim(RealAB, abBytes, 'resize', 'ArrayBuffer');
  if (RealSAB && sabBytes)
    g.SharedArrayBuffer = resizableShim(RealSAB, sabBytes, 'grow', 'SharedArrayBuffer');
  // Transferring a tracked buffer moves its memory to the result (and may grow it on the way).
  for (const name of ['transfer', 'transferToFixedLength']) {
    const real = getDescriptor(abProto, name)?.value as Fn | undefined;
    if (!real) continue;
    patch(
      abProto,
      name,
      {
        [name](this: object, newLength?: unknown): unknown {
          const moved = isTracked(this);
          const args = newLength === undefined ? [] : [NumberOf(newLength)];
          if (moved && args.length > 0) reserve(args[0]! - bufferBytes(this));
          const result = call<object>(real, this, ...args);
          if (moved) track(result, bufferBytes);
          return result;
        },
      }[name],
    );
  }

  const WA = g.WebAssembly as Wasm | undefined;
  if (!WA) return total;
  const RealMemory = WA.Memory;
  const RealModule = WA.Module;
  const RealInstance = WA.Instance;
  const moduleExports = method(RealModule, 'exports');
  const memoryBuffer = getter(RealMemory.prototype, 'buffer');
  const instanceExports = getter(RealInstance.prototype, 'exports');
  const memoryBytes = (m: object): number => bufferBytes(call(memoryBuffer, m));

  const SafeMemory = function Memory(desc: unknown): object {
    if (new.target === undefined) throw new TypeErrorCtor("Constructor WebAssembly.Memory requires 'new'");
    if (desc === null || typeof desc !== 'object') return construct(RealMemory, [desc], new.target);
    // Read once: what is checked is what V8 gets.
    const { initial, maximum, shared, address } = desc as Record<string, unknown>;
    const pages = NumberOf(initial);
    if (pages > maxWasmPages || NumberOf(maximum) > maxWasmPages) {
      throw new RangeErrorCtor(`WebAssembly.Memory larger than ${maxWasmPages} pages is not allowed`);
    }
    reserve(pages * PAGE);
    const wide = address === 'i64';
    const clean: Record<string, unknown> = { initial: wide ? BigIntOf(pages) : pages, shared: !!shared };
    if (maximum !== undefined) clean.maximum = wide ? BigIntOf(NumberOf(maximum)) : NumberOf(maximum);
    // Anything but a string is refused by V8 as it stands (no toString to call twice).
    if (address !== undefined) clean.address = typeof address === 'string' ? address : 'invalid';
    const m = construct(RealMemory, [clean], new.target);
    track(m, memoryBytes);
    return m;
  };
  standIn(SafeMemory, RealMemory);
  WA.Memory = SafeMemory as unknown as Ctor;
  const realMemoryGrow = method(RealMemory.prototype, 'grow');
  patch(RealMemory.prototype, 'grow', function grow(this: object, delta: unknown): unknown {
    const pages = NumberOf(delta);
    reserve(pages * PAGE);
    // A 64-bit memory takes a BigInt (a primitive: nothing can change between check and use).
    return call(realMemoryGrow, this, typeof delta === 'bigint' ? delta : pages);
  });

  // An instance's exported memories are reachable, so they count (an imported one already does).
  const SafeInstance = function Instance(module: unknown, imports?: unknown): object {
    if (new.target === undefined) throw new TypeErrorCtor("Constructor WebAssembly.Instance requires 'new'");
    const instance = construct(RealInstance, [module, imports], new.target);
    const list = call<Array<{ name: string; kind: string }>>(moduleExports, RealModule, module);
    const exported = call<Record<string, object>>(instanceExports, instance);
    const before = total();
    let added = 0;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      if (entry.kind !== 'memory') continue;
      const memory = exported[entry.name]!;
      if (isTracked(memory)) continue;
      track(memory, memoryBytes);
      added += memoryBytes(memory);
    }
    // Counted from before: the new memories are already allocated and tracked.
    if (added > 0 && before + added > capBytes) refuse();
    return instance;
  };
  standIn(SafeInstance, RealInstance);
  const Instance = SafeInstance as unknown as new (module: unknown, imports?: unknown) => object;
  WA.Instance = Instance;

  const Module = RealModule as unknown as new (bytes: unknown) => object;
  const later = <T>(f: () => T): Promise<T> => new Promise((resolve) => resolve(f()));
  WA.compile = (bytes: unknown) => later(() => new Module(bytes));
  WA.instantiate = (source: unknown, imports?: unknown) =>
    later(() => {
      if (source instanceof RealModule) return new Instance(source, imports);
      const module = new Module(source);
      return { module, instance: new Instance(module, imports) };
    });
  for (const name of ['compileStreaming', 'instantiateStreaming']) {
    WA[name] = () =>
      Promise.reject(
        new TypeError(`WebAssembly.${name} is not available; use WebAssembly.instantiate(bytes)`),
      );
  }
  return total;
}
