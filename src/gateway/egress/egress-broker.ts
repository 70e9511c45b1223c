/**
 * The egress broker: runner pods' only way out (protocol in cluster/egress-protocol.ts). It runs
 * in the gateway on its own port, so a NetworkPolicy can let runner pods reach that port and
 * nothing outside the cluster. Each request is authenticated by the run's egress token; fetch()
 * requests are performed here hop by hop by the same exchange as embedded mode's (policy per hop,
 * header injection, manual redirects, bounded body, secrets scrubbed), so header rule values
 * never enter a runner pod; module downloads are authorized and performed here one hop at a time.
 *
 * Bounded: request bodies, response bodies, requests in flight per execution and in total, and
 * time (the broker's limit, and the token's expiry).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Mcpv8Error, isMcpv8Error, urlPolicyInput, type PolicyEngine } from '../../core/index.ts';
import {
  EGRESS_FETCH_PATH,
  EGRESS_HEADERS,
  EGRESS_MODULE_PATH,
  ModuleHopSchema,
  type EgressErrorBody,
} from '../../cluster/egress-protocol.ts';
import type { EgressClaims, EgressTokenKey } from '../../cluster/egress-token.ts';
import { exchange, reasonOf } from '../../runner/host/fetch-exchange.ts';
import { MAX_REQUEST_BODY_BYTES, parseFetchPayload } from '../../runner/host/fetch-request.ts';
import { HeaderInjector, type HeaderRule } from '../../runner/host/header-rules.ts';
import { SandboxFacingError } from '../../runner/host/host-capability.ts';
import { Redactor } from '../../runner/host/redaction.ts';

const MiB = 1024 * 1024;

/** The broker's bounds. */
export interface EgressLimits {
  /** Largest fetch() response body (decompressed). */
  maxResponseBytes: number;
  /** Largest module source passed through. */
  maxModuleBytes: number;
  /** Redirects followed per fetch(). */
  maxRedirects: number;
  /** Requests in flight at once, all executions together. */
  maxInFlight: number;
  /** Requests in flight at once for one execution. */
  maxInFlightPerExecution: number;
  /** Longest a request may take here (the token's expiry may end it sooner). */
  requestTimeoutMs: number;
}

export const DEFAULT_EGRESS_LIMITS: EgressLimits = {
  maxResponseBytes: 10 * MiB,
  maxModuleBytes: 16 * MiB,
  maxRedirects: 5,
  maxInFlight: 256,
  maxInFlightPerExecution: 8,
  requestTimeoutMs: 120_000,
};

/** A fetch payload: the body (base64, at most 4/3 of its cap) plus URL and headers. */
const MAX_REQUEST_CHARS = Math.ceil(MAX_REQUEST_BODY_BYTES / 3) * 4 + 128 * 1024;
/** Module request headers passed through (the CDN picks its build by them); anything else is dropped. */
const MODULE_HEADERS = ['accept', 'user-agent'] as const;
/** Statuses a Response may not carry a body with. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

export interface EgressBrokerOptions {
  key: EgressTokenKey;
  /** The fetch and modules policies (the gateway's configuration); none: fetch is refused. */
  policy: PolicyEngine | undefined;
  /** Header injection rules (secrets: they stay in this process). */
  headerRules: readonly HeaderRule[];
  limits?: Partial<EgressLimits>;
  log?: Pick<Logger, 'warn'>;
  /** The network (tests swap it); the global fetch by default. */
  fetch?: typeof fetch;
}

/** The broker's HTTP server. */
export class EgressBroker {
  readonly #opts: EgressBrokerOptions;
  readonly #limits: EgressLimits;
  readonly #injector: HeaderInjector;
  readonly #scrub: Redactor;
  readonly #fetch: typeof fetch;
  readonly #perExecution = new Map<string, number>();
  readonly #server: Server;
  #inFlight = 0;

  constructor(opts: EgressBrokerOptions) {
    this.#opts = opts;
    this.#limits = { ...DEFAULT_EGRESS_LIMITS, ...opts.limits };
    this.#injector = new HeaderInjector(opts.headerRules);
    this.#scrub = new Redactor(this.#injector.values());
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = this.#limits.requestTimeoutMs + 10_000;
  }

  /** Listens; resolves with the broker's base URL. */
  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const { address, port: bound } = this.#server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${bound}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const route = path === EGRESS_FETCH_PATH ? 'fetch' : path === EGRESS_MODULE_PATH ? 'module' : undefined;
    if (route === undefined || req.method !== 'POST') {
      return refuse(res, new Mcpv8Error('MCPV8_ERR_ROUTE_NOT_FOUND', [req.method, path]));
    }
    const claims = this.#authenticate(req);
    if (claims instanceof Mcpv8Error) return refuse(res, claims);
    const execution = claims.executionId;
    const busy = this.#perExecution.get(execution) ?? 0;
    if (this.#inFlight >= this.#limits.maxInFlight || busy >= this.#limits.maxInFlightPerExecution) {
      return refuse(
        res,
        new Mcpv8Error('MCPV8_ERR_FETCH_LIMIT', ['too many requests in flight at the egress broker'], {
          details: { maxInFlightPerExecution: this.#limits.maxInFlightPerExecution },
        }),
      );
    }
    this.#inFlight++;
    this.#perExecution.set(execution, busy + 1);
    // The pod hung up (the cell aborted), the broker's limit, or the run's token expired.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const limit = Math.max(1, Math.min(this.#limits.requestTimeoutMs, claims.expiresAt - Date.now()));
    const signal = AbortSignal.any([gone.signal, AbortSignal.timeout(limit)]);
    try {
      const body = await readText(req, MAX_REQUEST_CHARS);
      const policy = this.#opts.policy && forTenant(this.#opts.policy, claims.namespace);
      if (route === 'fetch') await this.#fetchRoute(req, res, body, policy, signal);
      else await this.#moduleRoute(req, res, body, policy, signal);
    } catch (err) {
      if (gone.signal.aborted) return;
      if (signal.aborted && !isMcpv8Error(err)) {
        return refuse(res, new Mcpv8Error('MCPV8_ERR_FETCH_FAILED', ['at the egress broker', 'time is up']));
      }
      if (!isMcpv8Error(err) && !(err instanceof SandboxFacingError)) {
        this.#opts.log?.warn({ err: this.#scrub.text(String(err)) }, 'egress request failed');
      }
      refuse(res, err);
    } finally {
      this.#inFlight--;
      const left = (this.#perExecution.get(execution) ?? 1) - 1;
      if (left === 0) this.#perExecution.delete(execution);
      else this.#perExecution.set(execution, left);
    }
  }

  /** The token's claims, or the refusal (401 without a valid token, 403 for another execution). */
  #authenticate(req: IncomingMessage): EgressClaims | Mcpv8Error {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    const verified = token === '' ? undefined : this.#opts.key.verify(token);
    if (verified === undefined || 'problem' in verified) return new Mcpv8Error('MCPV8_ERR_AUTH_REQUIRED');
    const named = req.headers[EGRESS_HEADERS.execution];
    if (named !== verified.claims.executionId) {
      return new Mcpv8Error('MCPV8_ERR_AUTH_FORBIDDEN', [
        'the egress token was issued for another execution',
      ]);
    }
    return verified.claims;
  }

  async #fetchRoute(
    req: IncomingMessage,
    res: ServerResponse,
    body: string,
    policy: PolicyEngine | undefined,
    signal: AbortSignal,
  ) {
    if (!policy?.has('fetch')) throw new Mcpv8Error('MCPV8_ERR_POLICY_UNCONFIGURED', ['fetch', 'fetch']);
    const request = parseFetchPayload(body);
    const asked = Number(req.headers[EGRESS_HEADERS.maxResponseBytes]);
    const maxBytes =
      Number.isSafeInteger(asked) && asked > 0
        ? Math.min(asked, this.#limits.maxResponseBytes)
        : this.#limits.maxResponseBytes;
    const result = await exchange(request, {
      policy,
      injector: this.#injector,
      maxRedirects: this.#limits.maxRedirects,
      // The execution's total is the pod's to count; the broker bounds each response.
      budget: { maxBytes, take: () => undefined },
      signal,
      scrub: this.#scrub,
      fetch: this.#fetch,
    });
    const json = JSON.stringify(result);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  async #moduleRoute(
    req: IncomingMessage,
    res: ServerResponse,
    body: string,
    policy: PolicyEngine | undefined,
    signal: AbortSignal,
  ) {
    let hop: { url: string };
    try {
      hop = ModuleHopSchema.parse(JSON.parse(body));
    } catch {
      throw new Mcpv8Error('MCPV8_ERR_INPUT_INVALID', ['a module hop is {"url"}']);
    }
    const url = URL.parse(hop.url);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', ['module download', 'only http(s) URLs']);
    if (url.username !== '' || url.password !== '')
      throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', ['module download', 'URLs may not carry credentials']);
    // Unlike embedded mode, no modules policy means no downloads: the broker sits inside the
    // cluster and reaches what runner pods cannot (the API server, NATS, cloud metadata).
    if (!policy?.has('modules'))
      throw new Mcpv8Error('MCPV8_ERR_POLICY_UNCONFIGURED', ['module download', 'modules']);
    await policy.authorize('modules', urlPolicyInput('import', url, 'GET', {}), signal);
    const headers: Record<string, string> = {};
    for (const name of MODULE_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string' && value.length <= 1024) headers[name] = value;
    }
    let upstream: Response;
    try {
      upstream = await this.#fetch(url, { redirect: 'manual', signal, headers });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new Mcpv8Error('MCPV8_ERR_MODULE_FETCH_FAILED', [url.href, `GET failed: ${reasonOf(err)}`]);
    }
    const out: Record<string, string> = { [EGRESS_HEADERS.status]: String(upstream.status) };
    const location = upstream.headers.get('location');
    if (location !== null && location.length <= 8192) out[EGRESS_HEADERS.location] = location;
    const type = upstream.headers.get('content-type');
    if (type !== null && type.length <= 1024) out[EGRESS_HEADERS.contentType] = type;
    res.writeHead(200, out);
    if (upstream.body === null || NULL_BODY_STATUSES.has(upstream.status)) {
      await upstream.body?.cancel().catch(() => undefined);
      res.end();
      return;
    }
    const reader: ReadableStreamDefaultReader<Uint8Array> = upstream.body.getReader();
    let sent = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        sent += value.byteLength;
        // Cut short: the loader sees a failed download rather than a truncated module.
        if (sent > this.#limits.maxModuleBytes) return void res.destroy();
        if (!res.write(value)) await drained(res);
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    res.end();
  }
}

/** Answers with the error's status and stable code; anything unexpected is a 502 without detail. */
function refuse(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let status: number;
  let body: EgressErrorBody;
  if (err instanceof SandboxFacingError) {
    status = 400;
    body = { error: { name: err.name, message: err.message } };
  } else if (isMcpv8Error(err)) {
    status = err.statusCode;
    body = { error: { code: err.code, message: err.message.slice(0, 4096) } };
  } else {
    status = 502;
    body = { error: { code: 'MCPV8_ERR_FETCH_FAILED', message: 'the egress broker failed' } };
  }
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** Resolves when `res` can take more, or is gone (then further writes are no-ops). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/** The request body as text, refused past `maxChars` bytes. */
async function readText(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > maxBytes) throw new Mcpv8Error('MCPV8_ERR_BODY_TOO_LARGE', [maxBytes]);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).byteLength;
    if (total > maxBytes) throw new Mcpv8Error('MCPV8_ERR_BODY_TOO_LARGE', [maxBytes]);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/**
 * `policy` asked on behalf of `tenant`: every input carries `tenant` (the namespace the run's
 * token names, never what the pod says), so one broker can hold tenants to different rules.
 */
function forTenant(policy: PolicyEngine, tenant: string): PolicyEngine {
  return {
    has: (category) => policy.has(category),
    authorize: (category, input, signal) => policy.authorize(category, { ...input, tenant }, signal),
  };
}
