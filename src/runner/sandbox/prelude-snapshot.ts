/**
 * The prelude as a V8 startup snapshot: the installer runs once per process (per set of prelude
 * options), and every context of an isolate created from the snapshot starts with console,
 * timers, `__mcpv8` and the extensions already in place. A new context then costs a
 * deserialisation (≈ 1 ms) instead of running the prelude (≈ 2.5 ms, even with the code cache).
 *
 * Host callbacks cannot live in a snapshot, so the prelude is installed with forwarders into a
 * bridge record private to the snapshot script's closure; the host fills it once per context
 * through `__mcpv8_connect`, which removes itself before any user code runs. What V8 adds to a
 * context only after deserialising it (`WebAssembly`) is shimmed at connect time.
 */
import ivm from 'isolated-vm';
import type { PreludeOptions } from './prelude.ts';
import { PRELUDE_FILENAME, PRELUDE_SCRIPT } from './sandbox-source.ts';
import { installWasmShims } from './wasm-prelude.ts';

/** Global the snapshot leaves for the host to connect a context's bridge; gone once called. */
export const CONNECT_GLOBAL = '__mcpv8_connect';

/** Snapshot source: installs the prelude behind forwarders and exposes the one-shot connect. */
export function snapshotSource(options: PreludeOptions): string {
  return `(function () {
  const bridge = Object.create(null);
  const installWasmShims = ${installWasmShims.toString()};
  const api = (${PRELUDE_SCRIPT})(
    (level, text) => bridge.emit(level, text),
    (kind, a, b, c) => bridge.report(kind, a, b, c),
    () => bridge.now(),
    () => bridge.seed(),
    (op, id, delay) => bridge.timer(op, id, delay),
    { apply: (receiver, args, opts) => bridge.hostCall.apply(receiver, args, opts) },
    ${JSON.stringify(JSON.stringify(options))},
  );
  Object.defineProperty(globalThis, ${JSON.stringify(CONNECT_GLOBAL)}, {
    configurable: true,
    enumerable: false,
    writable: false,
    value: function (emit, report, now, seed, timer, hostCall) {
      delete globalThis[${JSON.stringify(CONNECT_GLOBAL)}];
      api.offHeapBytes = installWasmShims(globalThis, ${JSON.stringify(options.maxWasmPages)});
      bridge.emit = emit;
      bridge.report = report;
      bridge.now = now;
      bridge.seed = seed;
      bridge.timer = timer;
      bridge.hostCall = hostCall;
      // One function for the whole API: the host holds a single reference, and calling any part
      // of the API never needs a lookup that could wait on a busy isolate.
      return function (name, a, b) {
        return api[name](a, b);
      };
    },
  });
})();`;
}

// One snapshot per distinct prelude options; a process normally has exactly one.
const snapshots = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

/** The snapshot for these prelude options, created on first use (≈ 25 ms, synchronous). */
export function preludeSnapshot(options: PreludeOptions): ivm.ExternalCopy<ArrayBuffer> {
  const key = JSON.stringify(options);
  let snapshot = snapshots.get(key);
  if (!snapshot) {
    snapshot = ivm.Isolate.createSnapshot([{ code: snapshotSource(options), filename: PRELUDE_FILENAME }]);
    snapshots.set(key, snapshot);
  }
  return snapshot;
}
