/**
 * The egress capability of one run: an HMAC-SHA256 token over {namespace, execution, expiry},
 * minted by the controller when it sends a run to a runner pod and checked by the egress broker
 * on every request the pod makes for that run. Only the controller and the broker hold the key
 * (MCP_V8_EGRESS_KEY, from a Secret never mounted in runner pods), so a pod can act for the runs
 * it was sent, until they expire, and for nothing else.
 *
 * Format: `v1.<base64url JSON {ns, ex, exp}>.<base64url HMAC of the two first parts>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { Mcpv8Error } from '../core/errors.ts';

/** Env var holding the key (controller and gateway only). */
export const EGRESS_KEY_ENV = 'MCP_V8_EGRESS_KEY';
/** Shortest key accepted: 32 bytes, the HMAC-SHA256 block's worth of entropy. */
export const MIN_EGRESS_KEY_BYTES = 32;
/** Longest token accepted (a namespace, an execution id and a time fit in far less). */
export const MAX_EGRESS_TOKEN_CHARS = 2048;
/** How long past its deadline a token stays valid: a run may wait for a pod and replay its heap first. */
export const EGRESS_TOKEN_GRACE_MS = 15 * 60_000;

const VERSION = 'v1';

const ClaimsSchema = z
  .object({
    ns: z.string().min(1).max(63),
    ex: z.string().min(1).max(320),
    exp: z.number().int().positive(),
  })
  .strict();

/** Who a token lets the pod act for. */
export interface EgressClaims {
  /** The tenant namespace of the run. */
  namespace: string;
  /** The execution id the run carries (`<namespace>/<name>` in cluster mode). */
  executionId: string;
  /** Epoch milliseconds after which the token is refused. */
  expiresAt: number;
}

/** Why a token was refused; `forged` covers malformed tokens and wrong signatures alike. */
export type EgressTokenProblem = 'forged' | 'expired';

/** Mints and checks egress tokens with one key. */
export class EgressTokenKey {
  readonly #key: Buffer;

  /** @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID for a key shorter than {@link MIN_EGRESS_KEY_BYTES}. */
  constructor(key: string | Buffer) {
    const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    if (bytes.byteLength < MIN_EGRESS_KEY_BYTES) {
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
        `${EGRESS_KEY_ENV} must be at least ${MIN_EGRESS_KEY_BYTES} bytes`,
      ]);
    }
    this.#key = bytes;
  }

  /** The key from `env`, or undefined when it is not set (no broker). */
  static fromEnv(env: NodeJS.ProcessEnv): EgressTokenKey | undefined {
    const value = env[EGRESS_KEY_ENV];
    return value === undefined || value === '' ? undefined : new EgressTokenKey(value);
  }

  mint(claims: EgressClaims): string {
    const body = Buffer.from(
      JSON.stringify({ ns: claims.namespace, ex: claims.executionId, exp: claims.expiresAt }),
    ).toString('base64url');
    return `${VERSION}.${body}.${this.#sign(`${VERSION}.${body}`).toString('base64url')}`;
  }

  /** The claims of `token`, or why it is refused (never which part was wrong). */
  verify(token: string, now = Date.now()): { claims: EgressClaims } | { problem: EgressTokenProblem } {
    if (token.length > MAX_EGRESS_TOKEN_CHARS) return { problem: 'forged' };
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) return { problem: 'forged' };
    const expected = this.#sign(`${parts[0]}.${parts[1]}`);
    const given = Buffer.from(parts[2]!, 'base64url');
    if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected))
      return { problem: 'forged' };
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    } catch {
      return { problem: 'forged' };
    }
    const parsed = ClaimsSchema.safeParse(json);
    // Signed by our key yet not our shape: another version's token, refused all the same.
    if (!parsed.success) return { problem: 'forged' };
    if (parsed.data.exp <= now) return { problem: 'expired' };
    return { claims: { namespace: parsed.data.ns, executionId: parsed.data.ex, expiresAt: parsed.data.exp } };
  }

  #sign(text: string): Buffer {
    return createHmac('sha256', this.#key).update(text).digest();
  }
}
