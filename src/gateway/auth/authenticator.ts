/**
 * Who is calling: every HTTP route but the health probes needs `Authorization: Bearer <token>`,
 * which an {@link Authenticator} turns into the caller's tenant namespace. Embedded mode uses
 * static tokens (every caller is `default`); cluster mode asks Kubernetes (token-review.ts).
 * Tokens are never logged and never kept, only their SHA-256 digests.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Mcpv8Error } from '../../core/index.ts';

/** An authenticated caller. */
export interface Caller {
  /** Tenant namespace whose executions, sessions and heaps the caller sees. */
  namespace: string;
  /** Who it is, for logs and audits (e.g. `system:serviceaccount:team-a:agent`). */
  subject: string;
}

export interface Authenticator {
  /**
   * The caller a bearer token stands for (`token` undefined: none was sent).
   * @throws MCPV8_ERR_AUTH_REQUIRED (no or invalid token), MCPV8_ERR_AUTH_FORBIDDEN (valid token,
   * no tenant here), MCPV8_ERR_AUTH_UNAVAILABLE (the token could not be checked now)
   */
  authenticate(token: string | undefined): Promise<Caller>;
}

/** Paths answered without a token: kubelet probes carry none. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

const callers = new WeakMap<FastifyRequest, Caller>();

/** The caller `installAuthentication` found for `req`; undefined on open paths or without authentication. */
export function callerOf(req: FastifyRequest): Caller | undefined {
  return callers.get(req);
}

/** Authenticates every request but the health probes before it reaches a route. */
export function installAuthentication(app: FastifyInstance, authenticator: Authenticator): void {
  app.addHook('onRequest', async (req) => {
    if (OPEN_PATHS.has(req.url.split('?')[0]!)) return;
    callers.set(req, await authenticator.authenticate(bearerToken(req.headers.authorization)));
  });
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer ([^\s]+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** SHA-256 of a token: what is compared and cached instead of the token itself. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Embedded mode: a fixed set of tokens, each standing for the one tenant `default`. */
export class StaticTokenAuthenticator implements Authenticator {
  // Digests: equal lengths for timingSafeEqual, and no length leak.
  readonly #digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.#digests = tokens.map(tokenDigest);
  }

  async authenticate(token: string | undefined): Promise<Caller> {
    const presented = token === undefined ? undefined : tokenDigest(token);
    const index = presented ? this.#digests.findIndex((d) => timingSafeEqual(d, presented)) : -1;
    if (index < 0) throw new Mcpv8Error('MCPV8_ERR_AUTH_REQUIRED');
    // One subject per configured token (its position, never the token): per-client bounds such
    // as MCP sessions count each token's holders apart.
    return { namespace: 'default', subject: `static-token-${index + 1}` };
  }
}
