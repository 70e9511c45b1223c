/**
 * The in-isolate `fs` global: Node-like promise API over the `fs.*` host calls (answered by
 * host/fs-capability.ts, where every path is checked against the filesystem policy). Installed
 * only when the prelude options offer the `fs` capability.
 *
 * Serialised with toString into the prelude (see prelude-extensions.ts): self-contained, no
 * imports, no references to module scope. The isolate has no Buffer, atob or TextEncoder, so
 * binary data is base64-coded here; text crosses as a JSON string and the host writes it as
 * UTF-8. One host call carries at most 1 MiB of characters, so data larger than one chunk is
 * staged chunk by chunk (`fs.stage`) and the write then names the staged id.
 */
import type { PreludeExtensionContext } from './prelude.ts';

export function installFsPrelude({ callHost, hide, options }: PreludeExtensionContext): void {
  if (!options.capabilities?.includes('fs')) return;
  // Text chunks: ≤ 6 JSON characters per UTF-16 unit (\u escapes) keeps a call under 1 MiB.
  const TEXT_CHUNK_CHARS = 1 << 17;
  // Byte chunks: a multiple of 3, so chunks base64-encode independently (512 Ki characters each).
  const BYTE_CHUNK = 3 << 17;
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const U8 = Uint8Array;
  const isView = ArrayBuffer.isView.bind(ArrayBuffer);
  const AB = ArrayBuffer;

  type Chunk = { text: string } | { base64: string };
  interface CodedError extends Error {
    code?: string;
  }
  const argError = (message: string, code = 'ERR_INVALID_ARG_TYPE'): CodedError => {
    const e: CodedError = new TypeError(message);
    e.code = code;
    return e;
  };
  const pathArg = (name: string, p: unknown): string => {
    if (typeof p !== 'string') throw argError(`The "${name}" argument must be of type string`);
    return p;
  };

  const toBase64 = (bytes: Uint8Array): string => {
    let out = '';
    const n = bytes.length;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      out += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]! + ALPHABET[(v >> 6) & 63]! + ALPHABET[v & 63]!;
    }
    if (i < n) {
      const v = (bytes[i]! << 16) | (i + 1 < n ? bytes[i + 1]! << 8 : 0);
      out += ALPHABET[v >> 18]! + ALPHABET[(v >> 12) & 63]!;
      out += i + 1 < n ? ALPHABET[(v >> 6) & 63]! + '=' : '==';
    }
    return out;
  };
  const lookup = new U8(128);
  for (let i = 0; i < 64; i++) lookup[ALPHABET.charCodeAt(i)] = i;
  const fromBase64 = (s: string): Uint8Array => {
    const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
    const out = new U8((s.length / 4) * 3 - pad);
    let o = 0;
    for (let i = 0; i < s.length; i += 4) {
      const v =
        (lookup[s.charCodeAt(i)]! << 18) |
        (lookup[s.charCodeAt(i + 1)]! << 12) |
        (lookup[s.charCodeAt(i + 2)]! << 6) |
        lookup[s.charCodeAt(i + 3)]!;
      out[o++] = v >> 16;
      if (o < out.length) out[o++] = (v >> 8) & 255;
      if (o < out.length) out[o++] = v & 255;
    }
    return out;
  };

  /** Data of a write as chunks, made one at a time (16 MiB of base64 need not exist at once). */
  const chunker = (data: unknown): { count: number; chunk: (i: number) => Chunk } => {
    if (typeof data === 'string') {
      const starts: number[] = [0];
      // A cut never separates a surrogate pair: each chunk is valid text on its own.
      for (let at = 0; at + TEXT_CHUNK_CHARS < data.length;) {
        let end = at + TEXT_CHUNK_CHARS;
        const c = data.charCodeAt(end - 1);
        if (c >= 0xd800 && c <= 0xdbff) end--;
        starts.push((at = end));
      }
      return {
        count: starts.length,
        chunk: (i) => ({ text: data.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : data.length) }),
      };
    }
    let bytes: Uint8Array;
    if (data instanceof AB) bytes = new U8(data);
    else if (isView(data)) bytes = new U8(data.buffer, data.byteOffset, data.byteLength);
    else
      throw argError(
        'The "data" argument must be of type string or an instance of Uint8Array, another ArrayBuffer view or ArrayBuffer',
      );
    return {
      count: Math.max(1, Math.ceil(bytes.length / BYTE_CHUNK)),
      chunk: (i) => ({ base64: toBase64(bytes.subarray(i * BYTE_CHUNK, (i + 1) * BYTE_CHUNK)) }),
    };
  };

  // Large writes go one at a time: the host keeps one execution's staged data small.
  let stagedTail: Promise<unknown> = Promise.resolve();
  const write = async (op: string, path: unknown, data: unknown): Promise<undefined> => {
    const p = pathArg('path', path);
    const { count, chunk } = chunker(data);
    if (count === 1) {
      await callHost(op, { path: p, data: chunk(0) });
      return undefined;
    }
    const staged = stagedTail.then(async () => {
      let id: number | undefined;
      for (let i = 0; i < count; i++) {
        const answer = (await callHost(
          'fs.stage',
          id === undefined ? { chunk: chunk(i) } : { id, chunk: chunk(i) },
        )) as {
          id: number;
        };
        id = answer.id;
      }
      await callHost(op, { path: p, data: { staged: id } });
      return undefined;
    });
    stagedTail = staged.catch(() => undefined);
    return staged;
  };

  const encodingOf = (opt: unknown): 'utf8' | 'buffer' => {
    const e = opt !== null && typeof opt === 'object' ? (opt as { encoding?: unknown }).encoding : opt;
    if (e === undefined || e === 'utf8' || e === 'utf-8') return 'utf8';
    if (e === 'buffer' || e === null) return 'buffer';
    throw argError(
      `Unsupported encoding ${typeof e === 'string' ? e : typeof e}: use "utf8" or "buffer"`,
      'ERR_INVALID_ARG_VALUE',
    );
  };
  const flag = (opt: unknown, name: string): boolean =>
    opt !== null && typeof opt === 'object' && (opt as Record<string, unknown>)[name] === true;

  const fs = {
    /** A file's contents: a string (default, UTF-8) or, with "buffer", a Uint8Array. */
    readFile: async (path: unknown, opt?: unknown): Promise<string | Uint8Array> => {
      const encoding = encodingOf(opt);
      const value = (await callHost('fs.readFile', { path: pathArg('path', path), encoding })) as string;
      return encoding === 'utf8' ? value : fromBase64(value);
    },
    writeFile: (path: unknown, data: unknown): Promise<undefined> => write('fs.writeFile', path, data),
    appendFile: (path: unknown, data: unknown): Promise<undefined> => write('fs.appendFile', path, data),
    readdir: async (path: unknown): Promise<string[]> =>
      (await callHost('fs.readdir', { path: pathArg('path', path) })) as string[],
    /** `{size, isFile, isDirectory, isSymbolicLink, mtimeMs, ctimeMs, mode}`: booleans, not methods. */
    stat: async (path: unknown): Promise<unknown> => callHost('fs.stat', { path: pathArg('path', path) }),
    mkdir: async (path: unknown, opt?: unknown): Promise<undefined> => {
      await callHost('fs.mkdir', { path: pathArg('path', path), recursive: flag(opt, 'recursive') });
      return undefined;
    },
    rm: async (path: unknown, opt?: unknown): Promise<undefined> => {
      const recursive = flag(opt, 'recursive');
      await callHost('fs.rm', { path: pathArg('path', path), recursive, force: flag(opt, 'force') });
      return undefined;
    },
    rename: async (from: unknown, to: unknown): Promise<undefined> => {
      await callHost('fs.rename', { from: pathArg('oldPath', from), to: pathArg('newPath', to) });
      return undefined;
    },
    copyFile: async (from: unknown, to: unknown, mode?: unknown): Promise<undefined> => {
      if (mode !== undefined && mode !== 0)
        throw argError('copyFile modes are not supported', 'ERR_INVALID_ARG_VALUE');
      await callHost('fs.copyFile', { from: pathArg('src', from), to: pathArg('dest', to) });
      return undefined;
    },
    exists: async (path: unknown): Promise<boolean> =>
      (await callHost('fs.exists', { path: pathArg('path', path) })) as boolean,
  };
  // `fs.promises.readFile(…)` as in Node works too.
  hide('fs', Object.freeze({ ...fs, promises: Object.freeze({ ...fs }) }));
}
