/**
 * The WebAssembly shims of every context: the async APIs can stall inside an isolate, so they are
 * built on the sync ones, and memories are capped. V8 installs `WebAssembly` when a context is
 * created, after the prelude snapshot is deserialised, so these run per context at connect time
 * (see prelude-snapshot.ts). Serialised with toString: self-contained, no imports.
 */
export function installWasmShims(g: Record<string, unknown>, maxWasmPages: number): void {
  // (Typed loosely: the project's lib has no WebAssembly declarations.)
  type Ctor = new (...args: unknown[]) => object;
  interface Wasm {
    Memory: Ctor;
    Module: Ctor;
    Instance: Ctor;
    [api: string]: unknown;
  }
  const WA = g.WebAssembly as Wasm | undefined;
  if (!WA) return;
  const RealMemory = WA.Memory;
  const SafeMemory = function Memory(desc: { initial?: unknown; maximum?: unknown }) {
    if (new.target === undefined) throw new TypeError("Constructor WebAssembly.Memory requires 'new'");
    if (desc && (Number(desc.initial) > maxWasmPages || Number(desc.maximum) > maxWasmPages)) {
      throw new RangeError(`WebAssembly.Memory larger than ${maxWasmPages} pages is not allowed`);
    }
    return Reflect.construct(RealMemory, [desc], new.target) as object;
  };
  Object.defineProperty(SafeMemory, 'prototype', { value: RealMemory.prototype });
  WA.Memory = SafeMemory as unknown as Ctor;
  const later = <T>(f: () => T): Promise<T> => new Promise((resolve) => resolve(f()));
  WA.compile = (bytes: unknown) => later(() => new WA.Module(bytes));
  WA.instantiate = (source: unknown, imports?: unknown) =>
    later(() => {
      if (source instanceof WA.Module) return new WA.Instance(source, imports);
      const module = new WA.Module(source);
      return { module, instance: new WA.Instance(module, imports) };
    });
  for (const name of ['compileStreaming', 'instantiateStreaming']) {
    WA[name] = () =>
      Promise.reject(
        new TypeError(`WebAssembly.${name} is not available; use WebAssembly.instantiate(bytes)`),
      );
  }
}
