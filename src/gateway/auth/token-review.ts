/**
 * Cluster mode's authentication: a caller presents a Kubernetes ServiceAccount token; the gateway
 * asks the API server who it is (TokenReview, with the gateway's own credentials) and maps
 * `system:serviceaccount:<ns>:<sa>` to namespace `<ns>`, which must be a tenant the gateway
 * serves ({@link Tenancy}: named by list or by namespace labels; none named, none served).
 * Reviews that authenticated are cached briefly, keyed by the token's SHA-256, so a busy client
 * costs one review per TTL; a token is never stored or logged.
 */
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Mcpv8Error, isMcpv8Error } from '../../core/index.ts';
import { requestOptions, reuseConnections } from '../../cluster/kube-request.ts';
import { tokenDigest, type Authenticator, type Caller } from './authenticator.ts';
import type { Tenancy } from './tenancy.ts';

/** What a TokenReview said about a token. */
export interface ReviewResult {
  authenticated: boolean;
  username?: string;
}

/** Asks the API server about one token. @throws anything when the server could not be asked */
export type ReviewToken = (token: string) => Promise<ReviewResult>;

export interface TokenReviewAuthenticatorOptions {
  review: ReviewToken;
  /** Which namespaces (and ServiceAccounts) are tenants; an unconfigured one refuses every caller. */
  tenancy: Tenancy;
  /** How long an authenticated review is trusted, ms (default 30 s). */
  cacheTtlMs?: number;
  /** Most cached reviews (default 10 000). */
  cacheMax?: number;
  now?: () => number;
}

const SA_PREFIX = 'system:serviceaccount:';

/** {@link Authenticator} backed by Kubernetes TokenReview. */
export class TokenReviewAuthenticator implements Authenticator {
  readonly #review: ReviewToken;
  readonly #tenancy: Tenancy;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  /** Digest (hex) → username of an authenticated review and when it expires; oldest first. */
  readonly #cache = new Map<string, { username: string; expires: number }>();

  constructor(opts: TokenReviewAuthenticatorOptions) {
    this.#review = opts.review;
    this.#tenancy = opts.tenancy;
    this.#ttl = opts.cacheTtlMs ?? 30_000;
    this.#max = opts.cacheMax ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  async authenticate(token: string | undefined): Promise<Caller> {
    if (token === undefined || token.length === 0) throw new Mcpv8Error('MCPV8_ERR_AUTH_REQUIRED');
    const caller = this.#caller(await this.#username(token));
    await this.#tenancy.admit(caller.namespace, caller.account);
    return { namespace: caller.namespace, subject: caller.subject };
  }

  /** Number of cached reviews (for tests and metrics). */
  get cached(): number {
    return this.#cache.size;
  }

  async #username(token: string): Promise<string> {
    const key = tokenDigest(token).toString('hex');
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit && hit.expires > now) return hit.username;
    if (hit) this.#cache.delete(key);
    let result: ReviewResult;
    try {
      result = await this.#review(token);
    } catch (err) {
      if (isMcpv8Error(err)) throw err;
      throw new Mcpv8Error('MCPV8_ERR_AUTH_UNAVAILABLE', ['the Kubernetes API did not answer'], {
        cause: err,
      });
    }
    if (!result.authenticated || !result.username) throw new Mcpv8Error('MCPV8_ERR_AUTH_REQUIRED');
    // Map order is insertion order: the first key is the oldest entry.
    while (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, { username: result.username, expires: now + this.#ttl });
    return result.username;
  }

  /** The ServiceAccount a username names. @throws MCPV8_ERR_AUTH_FORBIDDEN for any other user */
  #caller(username: string): Caller & { account: string } {
    const parts = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(':') : [];
    const [namespace, account] = parts;
    if (parts.length !== 2 || !namespace || !account) {
      throw new Mcpv8Error('MCPV8_ERR_AUTH_FORBIDDEN', ['only ServiceAccount tokens map to a tenant']);
    }
    return { namespace, account, subject: username };
  }
}

/** How long one TokenReview may take before the caller gets MCPV8_ERR_AUTH_UNAVAILABLE. */
const REVIEW_TIMEOUT_MS = 5_000;

/**
 * TokenReview through `kubeConfig` (the gateway's own credentials; RBAC: create tokenreviews).
 * `audiences`, when given, are required of the token (and must come back in the status).
 */
export function kubeTokenReview(kubeConfig: KubeConfig, audiences?: readonly string[]): ReviewToken {
  const api = kubeConfig.makeApiClient(AuthenticationV1Api);
  const connections = reuseConnections();
  return async (token) => {
    const review = await api.createTokenReview(
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(audiences && audiences.length > 0 && { audiences: [...audiences] }) },
        },
      },
      requestOptions(connections, { signal: AbortSignal.timeout(REVIEW_TIMEOUT_MS) }),
    );
    const status = review.status ?? {};
    const audienceOk =
      !audiences || audiences.length === 0 || (status.audiences ?? []).some((a) => audiences.includes(a));
    return {
      authenticated: status.authenticated === true && audienceOk,
      ...(status.user?.username !== undefined && { username: status.user.username }),
    };
  };
}
