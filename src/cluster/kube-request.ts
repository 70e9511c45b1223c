/**
 * Per-request plumbing for client-node 2.x calls: a shared connection pool, an AbortSignal, and
 * the content type and accept headers its generated methods do not let a caller choose; plus
 * the JSON merge patch that turns one object into another.
 */
import {
  Observable,
  setHeaderMiddleware,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
} from '@kubernetes/client-node';

/** What one request needs beyond its parameters. */
export interface RequestExtras {
  signal?: AbortSignal | undefined;
  /** e.g. PatchStrategy.MergePatch: the generated patch methods default to JSON Patch. */
  contentType?: string | undefined;
  /** e.g. a metadata-only list (`application/json;as=PartialObjectMetadataList;...`). */
  accept?: string | undefined;
}

/** The second argument of a client-node call, sharing `connections` (see {@link reuseConnections}). */
export function requestOptions(
  connections: ObservableMiddleware,
  extras: RequestExtras,
): ConfigurationOptions {
  const { signal, contentType, accept } = extras;
  const middleware: ObservableMiddleware[] = [connections];
  // client-node's generated methods take no signal, but their request context does.
  if (signal !== undefined) {
    middleware.push(
      pass((ctx) => {
        ctx.setSignal(signal);
        return ctx;
      }),
    );
  }
  if (contentType !== undefined) middleware.push(setHeaderMiddleware('Content-Type', contentType));
  if (accept !== undefined) middleware.push(setHeaderMiddleware('Accept', accept));
  // Append: after the configuration's own middleware (authentication), which sets the dispatcher.
  return { middleware, middlewareMergeStrategy: 'append' };
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** How long one connection pool serves before a fresh one picks up rotated client certificates. */
const POOL_REFRESH_MS = 5 * 60_000;

/**
 * Middleware that makes requests share one connection pool. client-node 2.0 builds a new undici
 * Agent for every request (in its kubeconfig authentication), so each call would pay a TCP and
 * TLS handshake; this keeps the first Agent it built and hands it to the following requests,
 * replacing it now and then so that a rotated client certificate is picked up. The replaced
 * pool is dropped, not closed: a request may hold it still, and idle sockets time out.
 */
export function reuseConnections(): ObservableMiddleware {
  let pool: { dispatcher: Dispatcher; since: number } | undefined;
  return pass((ctx) => {
    const own = ctx.getDispatcher();
    if (own === undefined) return ctx;
    if (pool === undefined || Date.now() - pool.since > POOL_REFRESH_MS) {
      pool = { dispatcher: own, since: Date.now() };
    } else {
      ctx.setDispatcher(pool.dispatcher);
    }
    return ctx;
  });
}

/** A middleware that changes the request context and leaves the response alone. */
function pass(pre: (ctx: RequestContext) => RequestContext): ObservableMiddleware {
  return {
    pre: (ctx) => new Observable(Promise.resolve(pre(ctx))),
    post: (res) => new Observable(Promise.resolve(res)),
  };
}

/**
 * A JSON merge patch turning `from` into `to` (objects merged key by key, a key missing from
 * `to` set to null, anything else replaced whole).
 */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (!isPlainObject(from) || !isPlainObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
  for (const [key, value] of Object.entries(to)) patch[key] = mergePatch(from[key], value);
  return patch;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
