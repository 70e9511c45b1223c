/**
 * In-isolate Headers (the web class), installed with fetch: case-insensitive names, values
 * trimmed and checked (no CR/LF/NUL), repeated names joined with `, ` except set-cookie,
 * iteration sorted by name. fetch-prelude.ts derives the immutable headers of fetched responses.
 *
 * Serialised with toString (see prelude-extensions.ts): self-contained, no imports.
 */
import type { PreludeExtensionContext } from './prelude.ts';

export function installHeadersPrelude({ global: g, hide, options }: PreludeExtensionContext): void {
  if (!options.capabilities?.includes('fetch') || typeof g.Headers === 'function') return;
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const headerName = (n: unknown): string => {
    const s = String(n);
    if (!TOKEN.test(s)) throw new TypeError(`Headers: invalid header name "${s}"`);
    return s.toLowerCase();
  };
  const headerValue = (v: unknown): string => {
    const s = String(v).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
    if (/[\0\r\n]/.test(s)) throw new TypeError('Headers: invalid header value');
    return s;
  };
  class Headers {
    readonly #map = new Map<string, string[]>();
    constructor(init?: unknown) {
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [k, v] of init.#map) this.#map.set(k, [...v]);
      } else if (typeof init !== 'object' && typeof init !== 'function') {
        throw new TypeError('Headers: init must be an object, an array of pairs or Headers');
      } else if (Symbol.iterator in init) {
        for (const pair of init as Iterable<unknown>) {
          const p = [...(pair as Iterable<unknown>)];
          if (p.length !== 2) throw new TypeError('Headers: each header pair must have a name and a value');
          this.append(p[0], p[1]);
        }
      } else {
        for (const k of Object.keys(init)) this.append(k, (init as Record<string, unknown>)[k]);
      }
    }
    append(name: unknown, value: unknown): void {
      const k = headerName(name);
      const v = headerValue(value);
      const list = this.#map.get(k);
      if (list) list.push(v);
      else this.#map.set(k, [v]);
    }
    set(name: unknown, value: unknown): void {
      this.#map.set(headerName(name), [headerValue(value)]);
    }
    delete(name: unknown): void {
      this.#map.delete(headerName(name));
    }
    get(name: unknown): string | null {
      return this.#map.get(headerName(name))?.join(', ') ?? null;
    }
    has(name: unknown): boolean {
      return this.#map.has(headerName(name));
    }
    getSetCookie(): string[] {
      return [...(this.#map.get('set-cookie') ?? [])];
    }
    *entries(): IterableIterator<[string, string]> {
      for (const k of [...this.#map.keys()].sort()) {
        const list = this.#map.get(k)!;
        if (k === 'set-cookie') for (const v of list) yield [k, v];
        else yield [k, list.join(', ')];
      }
    }
    *keys(): IterableIterator<string> {
      for (const [k] of this.entries()) yield k;
    }
    *values(): IterableIterator<string> {
      for (const [, v] of this.entries()) yield v;
    }
    forEach(fn: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void {
      for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this);
    }
    [Symbol.iterator](): IterableIterator<[string, string]> {
      return this.entries();
    }
    get [Symbol.toStringTag](): string {
      return 'Headers';
    }
  }

  hide('Headers', Headers);
}
