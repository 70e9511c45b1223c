/**
 * Turning user strings into NATS subject tokens and KV key tokens. Execution ids, namespaces,
 * session names, tag keys and tag values come from clients: none of them is ever used as a
 * token verbatim, so none can inject `.`, `*` or `>` (another subject, or a wildcard) or an
 * empty token.
 */
import { createHash } from 'node:crypto';
import { Mcpv8Error } from '../core/errors.ts';

/** Characters a subject token keeps as they are; everything else is escaped. */
const SUBJECT_SAFE = /^[A-Za-z0-9-]$/;

/**
 * A readable, injective subject token: letters, digits and `-` are kept, every other UTF-8
 * byte becomes `_XX` (upper-case hex; `_` itself is escaped too, so decoding is unambiguous).
 * A UUID or a Kubernetes name without dots stays as it is.
 * @throws MCPV8_ERR_INPUT_INVALID for an empty string.
 */
export function subjectToken(value: string, what: string): string {
  if (value.length === 0) throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`${what} must not be empty`]);
  let out = '';
  for (const ch of value) {
    if (SUBJECT_SAFE.test(ch)) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** A subject prefix given in configuration: dot-separated tokens of safe characters. */
export function assertSubjectPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `subject prefix "${prefix}" is not a valid NATS subject`,
    ]);
  }
  return prefix;
}

/**
 * Encoded strings longer than this are hashed instead: the NATS control line (which carries
 * the subject of a KV key) is 4 KiB by default, and a key holds several tokens.
 */
const MAX_PLAIN_TOKEN = 120;

/**
 * A KV key token for a string: its UTF-8 bytes in unpadded base64url when that is 1–120
 * characters long, else `=` + base64url(SHA-256). `=` never occurs in unpadded base64url, so
 * the two forms cannot collide; a hashed token cannot be decoded, so anything read back
 * through one must be checked against the stored value.
 */
export function kvToken(value: string): string {
  const plain = Buffer.from(value, 'utf8').toString('base64url');
  if (plain.length >= 1 && plain.length <= MAX_PLAIN_TOKEN) return plain;
  return `=${createHash('sha256').update(value, 'utf8').digest('base64url')}`;
}

/**
 * The base64url token of a string that must stay decodable (session names), whatever its
 * length. @throws MCPV8_ERR_INPUT_INVALID for an empty string.
 */
export function kvNameToken(value: string, what: string): string {
  if (value.length === 0) throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', [`${what} must not be empty`]);
  return Buffer.from(value, 'utf8').toString('base64url');
}

/** The string a {@link kvNameToken} encodes. */
export function decodeKvNameToken(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}

/** Bucket and stream names: what JetStream accepts, checked before the server is asked. */
export function assertBucketName(name: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
      `"${name}" is not a valid JetStream stream or bucket name`,
    ]);
  }
  return name;
}
