/**
 * In-isolate AbortController, AbortSignal and DOMException (V8 has none; they are web APIs),
 * installed with fetch. Web-compatible as far as fetch and ordinary code use them: aborted,
 * reason, throwIfAborted, onabort, add/removeEventListener, AbortSignal.abort/timeout/any.
 *
 * One deliberate difference that stays invisible: a cell ends when it has no pending timers, so
 * a timeout signal only keeps a timer while something listens to it; otherwise `aborted` is
 * worked out from the clock when read. `AbortSignal.timeout(60_000)` passed to a fetch that
 * answers at once does not hold the cell for a minute.
 *
 * Serialised with toString (see prelude-extensions.ts): self-contained, no imports.
 */
import type { PreludeExtensionContext } from './prelude.ts';

export function installAbortPrelude({ global: g, hide, options }: PreludeExtensionContext): void {
  if (!options.capabilities?.includes('fetch') || typeof g.AbortController === 'function') return;
  const setTimer = g.setTimeout as (fn: () => void, ms: number) => number;
  const clearTimer = g.clearTimeout as (id: number) => void;
  const later = g.queueMicrotask as (fn: () => void) => void;
  const clock = (g.Date as DateConstructor).now;
  /** WebIDL string conversion (`String(v)`, objects included, as the web does). */
  const str = String as (v: unknown) => string;

  const CODES: Record<string, number> = {
    IndexSizeError: 1,
    NotFoundError: 8,
    NotSupportedError: 9,
    InvalidStateError: 11,
    SyntaxError: 12,
    InvalidCharacterError: 5,
    NetworkError: 19,
    AbortError: 20,
    TimeoutError: 23,
    DataCloneError: 25,
  };
  class DOMException extends Error {
    readonly #name: string;
    constructor(message?: unknown, name?: unknown) {
      super(message === undefined ? '' : str(message));
      this.#name = name === undefined ? 'Error' : str(name);
    }
    override get name(): string {
      return this.#name;
    }
    get code(): number {
      return CODES[this.#name] ?? 0;
    }
  }
  if (typeof g.DOMException !== 'function') hide('DOMException', DOMException);
  const DOMEx = g.DOMException as typeof DOMException;

  type Listener = (this: unknown, event: unknown) => unknown;
  const INTERNAL = Symbol('internal');
  let fire: (s: AbortSignal, reason: unknown) => void = () => undefined;

  class AbortSignal {
    #aborted = false;
    #reason: unknown = undefined;
    #listeners: Array<{ fn: Listener | { handleEvent: Listener }; once: boolean }> = [];
    #onabort: Listener | null = null;
    /** Timeout signals: when they abort (epoch ms), and their timer while anyone listens. */
    #deadline: number | undefined;
    #timer: number | undefined;
    /** Dependent signals (AbortSignal.any): sources, followed only while anyone listens. */
    #sources: AbortSignal[] = [];
    #follow: (() => void) | undefined;

    constructor(token?: unknown) {
      if (token !== INTERNAL) throw new TypeError('Illegal constructor');
    }

    static {
      fire = (s, reason) => s.#abort(reason);
    }

    get aborted(): boolean {
      this.#settle();
      return this.#aborted;
    }
    get reason(): unknown {
      this.#settle();
      return this.#reason;
    }
    get onabort(): Listener | null {
      return this.#onabort;
    }
    set onabort(fn: Listener | null) {
      this.#onabort = typeof fn === 'function' ? fn : null;
      this.#watch();
    }
    throwIfAborted(): void {
      if (this.aborted) throw this.#reason;
    }
    addEventListener(type: unknown, fn: unknown, opts?: unknown): void {
      if (String(type) !== 'abort' || (typeof fn !== 'function' && (typeof fn !== 'object' || fn === null)))
        return;
      if (this.#listeners.some((l) => l.fn === fn)) return;
      const once = typeof opts === 'object' && opts !== null && Boolean((opts as { once?: unknown }).once);
      this.#listeners.push({ fn: fn as Listener, once });
      this.#watch();
    }
    removeEventListener(type: unknown, fn: unknown): void {
      if (String(type) !== 'abort') return;
      this.#listeners = this.#listeners.filter((l) => l.fn !== fn);
      this.#watch();
    }
    get [Symbol.toStringTag](): string {
      return 'AbortSignal';
    }

    static abort(reason?: unknown): AbortSignal {
      const s = new AbortSignal(INTERNAL);
      s.#abort(reason);
      return s;
    }
    static timeout(ms: unknown): AbortSignal {
      const n = Number(ms);
      if (!(n >= 0) || n > Number.MAX_SAFE_INTEGER) throw new TypeError('The "delay" argument must be >= 0');
      const s = new AbortSignal(INTERNAL);
      s.#deadline = clock() + Math.floor(n);
      return s;
    }
    static any(signals: Iterable<AbortSignal>): AbortSignal {
      const s = new AbortSignal(INTERNAL);
      for (const source of signals) {
        if (!(source instanceof AbortSignal)) throw new TypeError('AbortSignal.any() expects AbortSignals');
        s.#sources.push(source);
      }
      s.#settle();
      return s;
    }

    #abort(reason: unknown): void {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMEx('This operation was aborted', 'AbortError') : reason;
      this.#watch();
      const event = { type: 'abort', target: this, currentTarget: this, defaultPrevented: false };
      const listeners = [...(this.#onabort ? [{ fn: this.#onabort, once: false }] : []), ...this.#listeners];
      this.#listeners = this.#listeners.filter((l) => !l.once);
      for (const { fn } of listeners) {
        try {
          if (typeof fn === 'function') fn.call(this, event);
          else fn.handleEvent.call(fn, event);
        } catch (e) {
          // Like the web: a throwing listener is reported, the others still run.
          later(() => {
            throw e;
          });
        }
      }
    }

    /** Aborts now when the deadline or a source says so (read lazily, see the file comment). */
    #settle(): void {
      if (this.#aborted) return;
      if (this.#deadline !== undefined && clock() >= this.#deadline) {
        this.#abort(new DOMEx('The operation was aborted due to timeout', 'TimeoutError'));
        return;
      }
      for (const source of this.#sources) {
        if (source.aborted) {
          this.#abort(source.reason);
          return;
        }
      }
    }

    /** Keeps a timer (timeout) or source listeners (any) exactly while this signal has listeners. */
    #watch(): void {
      const wanted = !this.#aborted && (this.#listeners.length > 0 || this.#onabort !== null);
      if (this.#deadline !== undefined) {
        if (wanted && this.#timer === undefined) {
          this.#timer = setTimer(
            () => {
              this.#timer = undefined;
              this.#abort(new DOMEx('The operation was aborted due to timeout', 'TimeoutError'));
            },
            Math.max(0, this.#deadline - clock()),
          );
        } else if (!wanted && this.#timer !== undefined) {
          clearTimer(this.#timer);
          this.#timer = undefined;
        }
      }
      if (this.#sources.length > 0) {
        if (wanted && this.#follow === undefined) {
          this.#follow = () => this.#settle();
          for (const source of this.#sources) source.addEventListener('abort', this.#follow);
        } else if (!wanted && this.#follow !== undefined) {
          for (const source of this.#sources) source.removeEventListener('abort', this.#follow);
          this.#follow = undefined;
        }
      }
    }
  }

  class AbortController {
    readonly #signal = new AbortSignal(INTERNAL);
    get signal(): AbortSignal {
      return this.#signal;
    }
    abort(reason?: unknown): void {
      fire(this.#signal, reason);
    }
    get [Symbol.toStringTag](): string {
      return 'AbortController';
    }
  }

  hide('AbortSignal', AbortSignal);
  hide('AbortController', AbortController);
}
