/**
 * In-isolate TextEncoder, TextDecoder (UTF-8 only) and atob/btoa, installed with fetch: V8 has
 * none of them, response bodies need them (text() of binary bytes, arrayBuffer() of text), and
 * code using fetch() expects them. TextDecoder has no `stream` mode.
 *
 * Serialised with toString (see prelude-extensions.ts): self-contained, no imports.
 */
import type { PreludeExtensionContext } from './prelude.ts';

export function installWebCodecsPrelude({ global: g, hide, options }: PreludeExtensionContext): void {
  if (!options.capabilities?.includes('fetch') || typeof g.TextEncoder === 'function') return;
  const DOMEx = (g.DOMException ?? Error) as new (message: string, name: string) => Error;
  const fromCodes = String.fromCharCode;
  /** Strings from code units in slices: apply() with millions of arguments overflows the stack. */
  const unitsToString = (units: Uint16Array, length: number): string => {
    let out = '';
    for (let i = 0; i < length; i += 8192) {
      const slice = units.subarray(i, Math.min(length, i + 8192));
      out += fromCodes(...slice);
    }
    return out;
  };

  /** WebIDL string conversion (`String(v)`, objects included, as the web does). */
  const str = String as (v: unknown) => string;
  const encode = (input: unknown): Uint8Array => {
    const s = input === undefined ? '' : str(input);
    let size = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) size += 1;
      else if (c < 0x800) size += 2;
      else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        size += 4;
        i++;
      } else size += 3;
    }
    const out = new Uint8Array(size);
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = s.charCodeAt(i + 1);
        if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd; // a lone surrogate, as the web encodes it
      }
      if (c < 0x80) out[n++] = c;
      else if (c < 0x800) {
        out[n++] = 0xc0 | (c >> 6);
        out[n++] = 0x80 | (c & 63);
      } else if (c < 0x10000) {
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
      } else {
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 63);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
      }
    }
    return out;
  };

  /** WHATWG UTF-8 decode: each maximal invalid subpart becomes U+FFFD (or throws when fatal). */
  const decode = (bytes: Uint8Array, fatal: boolean): string => {
    const units = new Uint16Array(bytes.length);
    let n = 0;
    const bad = () => {
      if (fatal) throw new TypeError('The encoded data was not valid for encoding utf-8');
      units[n++] = 0xfffd;
    };
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i]!;
      if (b < 0x80) {
        units[n++] = b;
        i++;
        continue;
      }
      let need: number;
      let cp: number;
      let lo = 0x80;
      let hi = 0xbf;
      if (b >= 0xc2 && b <= 0xdf) [need, cp] = [1, b & 0x1f];
      else if (b >= 0xe0 && b <= 0xef) {
        [need, cp] = [2, b & 0x0f];
        if (b === 0xe0) lo = 0xa0;
        if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        [need, cp] = [3, b & 0x07];
        if (b === 0xf0) lo = 0x90;
        if (b === 0xf4) hi = 0x8f;
      } else {
        bad();
        i++;
        continue;
      }
      let j = 1;
      for (; j <= need; j++) {
        const c = bytes[i + j];
        if (c === undefined || c < lo || c > hi) break;
        cp = (cp << 6) | (c & 0x3f);
        lo = 0x80;
        hi = 0xbf;
      }
      if (j <= need) {
        bad();
        i += j;
        continue;
      }
      i += j;
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units[n++] = 0xd800 + (cp >> 10);
        units[n++] = 0xdc00 + (cp & 0x3ff);
      } else units[n++] = cp;
    }
    return unitsToString(units, n);
  };

  const toBytes = (input: unknown): Uint8Array => {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError('The "input" argument must be an ArrayBuffer or ArrayBufferView');
  };

  class TextEncoder {
    get encoding(): string {
      return 'utf-8';
    }
    encode(input?: unknown): Uint8Array {
      return encode(input);
    }
    encodeInto(input: unknown, dest: Uint8Array): { read: number; written: number } {
      const s = String(input);
      let read = 0;
      let written = 0;
      for (const ch of s) {
        const b = encode(ch);
        if (written + b.length > dest.length) break;
        dest.set(b, written);
        written += b.length;
        read += ch.length;
      }
      return { read, written };
    }
  }

  class TextDecoder {
    readonly #fatal: boolean;
    readonly #ignoreBOM: boolean;
    constructor(label: unknown = 'utf-8', opts?: { fatal?: unknown; ignoreBOM?: unknown }) {
      const l = String(label).trim().toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8')
        throw new RangeError(`The "${String(label)}" encoding is not supported in this sandbox (only utf-8)`);
      this.#fatal = Boolean(opts?.fatal);
      this.#ignoreBOM = Boolean(opts?.ignoreBOM);
    }
    get encoding(): string {
      return 'utf-8';
    }
    get fatal(): boolean {
      return this.#fatal;
    }
    get ignoreBOM(): boolean {
      return this.#ignoreBOM;
    }
    decode(input?: unknown): string {
      const s = decode(toBytes(input), this.#fatal);
      return !this.#ignoreBOM && s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
    }
  }

  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const SEXTETS = new Uint8Array(128);
  for (let i = 0; i < 64; i++) SEXTETS[ALPHABET.charCodeAt(i)] = i;
  const btoa = (data: unknown): string => {
    const s = String(data);
    let out = '';
    for (let i = 0; i < s.length; i += 3) {
      const a = s.charCodeAt(i);
      const b = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      const c = i + 2 < s.length ? s.charCodeAt(i + 2) : 0;
      if (a > 255 || b > 255 || c > 255)
        throw new DOMEx(
          'Invalid character: the string contains characters outside Latin1',
          'InvalidCharacterError',
        );
      const n = (a << 16) | (b << 8) | c;
      out +=
        ALPHABET[n >> 18]! +
        ALPHABET[(n >> 12) & 63]! +
        (i + 1 < s.length ? ALPHABET[(n >> 6) & 63]! : '=') +
        (i + 2 < s.length ? ALPHABET[n & 63]! : '=');
    }
    return out;
  };
  const atob = (data: unknown): string => {
    let s = String(data).replace(/[\t\n\f\r ]/g, '');
    if (s.length % 4 === 0) s = s.replace(/==?$/, '');
    if (s.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(s))
      throw new DOMEx('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    const units = new Uint16Array(Math.floor((s.length * 3) / 4));
    let n = 0;
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < s.length; i++) {
      acc = ((acc << 6) | SEXTETS[s.charCodeAt(i)]!) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        units[n++] = (acc >> bits) & 0xff;
      }
    }
    return unitsToString(units, n);
  };

  hide('TextEncoder', TextEncoder);
  hide('TextDecoder', TextDecoder);
  hide('atob', atob);
  hide('btoa', btoa);
}
