/**
 * The runner pod's side of the egress broker (protocol in egress-protocol.ts): fetch() requests
 * and module download hops are sent to the broker with the egress token of the run they belong
 * to, and its answers handed back as if the pod had performed them. The pod holds no header
 * rules and needs no route out of the cluster.
 */
import { ERRORS, Mcpv8Error, type ErrorCode } from '../core/errors.ts';
import type { RunnerEgress } from '../runner/host/egress.ts';
import type { FetchRequest } from '../runner/host/fetch-request.ts';
import type { BodyBudget, FetchResult } from '../runner/host/fetch-response.ts';
import { SandboxFacingError } from '../runner/host/host-capability.ts';
import {
  EGRESS_FETCH_PATH,
  EGRESS_HEADERS,
  EGRESS_MODULE_PATH,
  EgressErrorSchema,
} from './egress-protocol.ts';

/** Errors the broker hands back as web fetch() would throw them. */
const SANDBOX_ERROR_NAMES: ReadonlySet<string> = new Set(['TypeError', 'AbortError']);
/** Statuses a Response may not carry a body with. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/** Sends a runner's requests to the egress broker at `baseUrl`. */
export class EgressClient implements RunnerEgress {
  readonly #base: string;
  readonly #network: typeof fetch;
  /** Tokens of the runs in progress, in the order they started. */
  readonly #tokens = new Map<string, string>();

  /** @param network the pod's fetch (tests swap it); the global one by default. */
  constructor(baseUrl: string, network: typeof fetch = (input, init) => globalThis.fetch(input, init)) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#network = network;
  }

  enter(executionId: string, token: string | undefined): () => void {
    if (token === undefined) return () => undefined;
    this.#tokens.set(executionId, token);
    return () => {
      if (this.#tokens.get(executionId) === token) this.#tokens.delete(executionId);
    };
  }

  async fetch(
    executionId: string,
    req: FetchRequest,
    budget: BodyBudget,
    signal: AbortSignal,
  ): Promise<FetchResult> {
    const where = `${req.method} ${req.url.origin}`;
    const token = this.#tokens.get(executionId);
    if (token === undefined)
      throw new Mcpv8Error('MCPV8_ERR_FETCH_FAILED', [where, 'this run carries no egress token']);
    const payload = {
      id: req.id,
      url: req.url.href,
      method: req.method,
      headers: [...req.headers],
      ...(req.body !== undefined && { body: { encoding: 'base64', data: req.body.toString('base64') } }),
      redirect: req.redirect,
    };
    const res = await this.#call(EGRESS_FETCH_PATH, executionId, token, JSON.stringify(payload), signal, {
      [EGRESS_HEADERS.maxResponseBytes]: String(budget.maxBytes),
    }).catch((err: unknown) => {
      if (signal.aborted) throw err;
      throw new Mcpv8Error('MCPV8_ERR_FETCH_FAILED', [where, 'the egress broker cannot be reached']);
    });
    if (!res.ok) throw await refusal(res, where);
    const result = (await res.json()) as FetchResult;
    // The broker bounded this response; the execution's total is counted here.
    const body = result.body;
    if (body !== null)
      budget.take(body.encoding === 'utf8' ? Buffer.byteLength(body.data) : (body.data.length * 3) >> 2);
    return result;
  }

  /**
   * Module downloads are shared by the runs of the pod (one download, one cache), so a hop goes
   * with the token of the run that started last: any will do, since a pod runs for one tenant
   * and the broker's policy is the same for all its runs.
   */
  readonly moduleFetch: typeof fetch = async (input, init) => {
    const url = input instanceof URL ? input.href : typeof input === 'string' ? input : input.url;
    const signal = init?.signal ?? undefined;
    const token = [...this.#tokens.values()].at(-1);
    if (token === undefined) throw new Error('no run in progress carries an egress token');
    const executionId = [...this.#tokens.keys()].at(-1)!;
    const asked = new Headers(init?.headers);
    const extra: Record<string, string> = {};
    for (const name of ['accept', 'user-agent']) {
      const value = asked.get(name);
      if (value !== null) extra[name] = value;
    }
    const res = await this.#call(
      EGRESS_MODULE_PATH,
      executionId,
      token,
      JSON.stringify({ url }),
      signal,
      extra,
    );
    if (!res.ok) throw await refusal(res, `GET ${url}`);
    const status = Number(res.headers.get(EGRESS_HEADERS.status));
    const headers = new Headers();
    const location = res.headers.get(EGRESS_HEADERS.location);
    if (location !== null) headers.set('location', location);
    const type = res.headers.get(EGRESS_HEADERS.contentType);
    if (type !== null) headers.set('content-type', type);
    const nullBody = NULL_BODY_STATUSES.has(status);
    if (nullBody) await res.body?.cancel().catch(() => undefined);
    return new Response(nullBody ? null : res.body, { status, headers });
  };

  #call(
    path: string,
    executionId: string,
    token: string,
    body: string,
    signal: AbortSignal | undefined,
    headers: Record<string, string>,
  ): Promise<Response> {
    return this.#network(`${this.#base}${path}`, {
      method: 'POST',
      headers: {
        ...headers,
        authorization: `Bearer ${token}`,
        [EGRESS_HEADERS.execution]: executionId,
        'content-type': 'application/json',
      },
      body,
      ...(signal && { signal }),
    });
  }
}

/** The error a refusal of the broker stands for: the same code and message the broker reported. */
async function refusal(res: Response, where: string): Promise<Error> {
  const parsed = EgressErrorSchema.safeParse(await res.json().catch(() => undefined));
  const error = parsed.success ? parsed.data.error : undefined;
  if (error?.name !== undefined && SANDBOX_ERROR_NAMES.has(error.name))
    return new SandboxFacingError(error.name, error.message);
  if (error?.code !== undefined && Object.hasOwn(ERRORS, error.code)) {
    const err = new Mcpv8Error(error.code as ErrorCode);
    // The broker's message is already formatted (and scrubbed); keep it word for word.
    Object.defineProperty(err, 'message', { value: error.message });
    return err;
  }
  return new Mcpv8Error('MCPV8_ERR_FETCH_FAILED', [where, `the egress broker answered ${res.status}`]);
}
