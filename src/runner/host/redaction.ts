/**
 * Scrubs injected header values (secrets) out of what reaches user code: a server may echo the
 * request's headers (httpbin's /headers, debug endpoints, error pages, redirect URLs), and an
 * error message may quote a header. Exact occurrences only: a transformed secret (encoded,
 * hashed) is the server's business.
 */

/** Values shorter than this are not scrubbed: they are not secrets, and scrubbing would garble. */
export const MIN_REDACTED_CHARS = 8;
export const REDACTED = '[redacted]';

/** Replaces every occurrence of the given secrets; a no-op without any. */
export class Redactor {
  readonly #texts: readonly string[];
  readonly #bytes: readonly Buffer[];

  constructor(secrets: Iterable<string>) {
    // Longest first, so a secret containing another is replaced whole.
    this.#texts = [...new Set(secrets)]
      .filter((s) => s.length >= MIN_REDACTED_CHARS)
      .sort((a, b) => b.length - a.length);
    this.#bytes = this.#texts.map((s) => Buffer.from(s, 'utf8'));
  }

  get empty(): boolean {
    return this.#texts.length === 0;
  }

  text(s: string): string {
    let out = s;
    for (const secret of this.#texts) if (out.includes(secret)) out = out.replaceAll(secret, REDACTED);
    return out;
  }

  bytes(buf: Buffer): Buffer {
    let out = buf;
    for (const secret of this.#bytes) {
      let at = out.indexOf(secret);
      if (at < 0) continue;
      const parts: Buffer[] = [];
      const marker = Buffer.from(REDACTED);
      let from = 0;
      while (at >= 0) {
        parts.push(out.subarray(from, at), marker);
        from = at + secret.length;
        at = out.indexOf(secret, from);
      }
      parts.push(out.subarray(from));
      out = Buffer.concat(parts);
    }
    return out;
  }
}
