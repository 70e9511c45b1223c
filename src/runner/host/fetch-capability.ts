/**
 * The fetch capability: user code's only way to the network, offered only when a fetch policy
 * is configured. Ops: `fetch` (one request, see fetch-exchange.ts) and `fetch.abort` (the
 * cell's AbortSignal fired for a request still in flight). Each execution has its own bounds:
 * requests in total and at once, bytes read, redirects per request, and its deadline.
 */
import { z } from 'zod';
import { Mcpv8Error, isMcpv8Error, type PolicyEngine } from '../../core/index.ts';
import { exchange } from './fetch-exchange.ts';
import {
  FetchAbortPayloadSchema,
  parseFetchPayload,
  fetchPolicyInput,
  parsePayload,
  type FetchRequest,
} from './fetch-request.ts';
import type { BodyBudget, FetchResult } from './fetch-response.ts';
import { HeaderInjector, HeaderRulesSchema } from './header-rules.ts';
import { SandboxFacingError, type CapabilityHandler, type HostCapability } from './host-capability.ts';
import { Redactor } from './redaction.ts';
import type { RunnerEgress } from './egress.ts';

const MiB = 1024 * 1024;

/** Per-execution bounds of fetch(). */
export const FetchLimitsSchema = z
  .object({
    /** Largest response body (decompressed). */
    maxResponseBytes: z
      .number()
      .int()
      .min(1)
      .max(1024 * MiB)
      .default(10 * MiB),
    /** All response bodies of one execution together. */
    maxTotalResponseBytes: z
      .number()
      .int()
      .min(1)
      .max(4096 * MiB)
      .default(50 * MiB),
    /** Redirects followed per request. */
    maxRedirects: z.number().int().min(0).max(20).default(5),
    /** Requests in flight at once. */
    maxConcurrent: z.number().int().min(1).max(256).default(8),
    /** Requests per execution. */
    maxRequests: z.number().int().min(1).max(100_000).default(100),
  })
  .strict();
export type FetchLimits = z.infer<typeof FetchLimitsSchema>;

/** The `fetch` runner option: limits and header injection rules (secrets: IPC only, never argv). */
export const FetchOptionsSchema = z
  .object({
    limits: FetchLimitsSchema.default(FetchLimitsSchema.parse({})),
    headerRules: HeaderRulesSchema.default([]),
  })
  .strict();
export type FetchOptions = z.input<typeof FetchOptionsSchema>;

/**
 * The fetch capability for a runner. With `egress`, requests are performed by the egress broker
 * (which applies its own policy and header rules) after this runner's policy allowed the first
 * hop; without, here.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID when `options` are invalid (no value is quoted).
 */
export function createFetchCapability(
  options: FetchOptions | undefined,
  policy: PolicyEngine,
  fetchImpl: typeof fetch = (input, init) => globalThis.fetch(input, init),
  egress?: RunnerEgress,
): HostCapability {
  const parsed = FetchOptionsSchema.safeParse(options ?? {});
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [`fetch options are invalid at ${where}`]);
  }
  const { limits, headerRules } = parsed.data;
  const injector = new HeaderInjector(headerRules);
  const scrub = new Redactor(injector.values());
  return {
    name: 'fetch',
    ops: ['fetch', 'fetch.abort'],
    forExecution: ({ executionId, deadline }): CapabilityHandler => {
      const execution = new FetchExecution(limits, deadline, (req, budget, signal) =>
        egress
          ? viaBroker(egress, executionId, policy, req, budget, signal)
          : exchange(req, {
              policy,
              injector,
              maxRedirects: limits.maxRedirects,
              budget,
              signal,
              scrub,
              fetch: fetchImpl,
            }),
      );
      return (op, payload, signal) =>
        op === 'fetch.abort' ? execution.abort(payload) : execution.fetch(payload, signal);
    },
  };
}

/** One request through the broker, once this runner's own policy allowed what the code asked. */
async function viaBroker(
  egress: RunnerEgress,
  executionId: string,
  policy: PolicyEngine,
  req: FetchRequest,
  budget: BodyBudget,
  signal: AbortSignal,
): Promise<FetchResult> {
  await policy.authorize('fetch', fetchPolicyInput(req.url, req.method, req.headers), signal);
  return egress.fetch(executionId, req, budget, signal);
}

type Perform = (req: FetchRequest, budget: BodyBudget, signal: AbortSignal) => Promise<FetchResult>;

/** The bounds and in-flight requests of one execution. */
class FetchExecution {
  readonly #limits: FetchLimits;
  readonly #deadline: number;
  readonly #perform: Perform;
  readonly #inFlight = new Map<number, AbortController>();
  /** Aborts that arrived before their request (bounded by the request limit). */
  readonly #abortedEarly = new Set<number>();
  #requests = 0;
  #bytes = 0;

  constructor(limits: FetchLimits, deadline: number, perform: Perform) {
    this.#limits = limits;
    this.#deadline = deadline;
    this.#perform = perform;
  }

  async abort(payload: string): Promise<null> {
    const { id } = parsePayload(FetchAbortPayloadSchema, payload, 'fetch.abort');
    const controller = this.#inFlight.get(id);
    if (controller) controller.abort();
    else if (this.#abortedEarly.size < this.#limits.maxRequests) this.#abortedEarly.add(id);
    return null;
  }

  async fetch(payload: string, signal: AbortSignal): Promise<FetchResult> {
    const req = parseFetchPayload(payload);
    const limits = this.#limits;
    if (this.#requests >= limits.maxRequests)
      throw limit(`more than ${limits.maxRequests} requests in one execution`, {
        maxRequests: limits.maxRequests,
      });
    if (this.#inFlight.size >= limits.maxConcurrent)
      throw limit(`more than ${limits.maxConcurrent} requests at once`, {
        maxConcurrent: limits.maxConcurrent,
      });
    if (this.#inFlight.has(req.id)) throw new SandboxFacingError('TypeError', 'fetch: duplicate request id');
    this.#requests++;
    const user = new AbortController();
    if (this.#abortedEarly.delete(req.id)) user.abort();
    this.#inFlight.set(req.id, user);
    const deadline = AbortSignal.timeout(Math.max(1, this.#deadline - Date.now()));
    const budget: BodyBudget = {
      maxBytes: limits.maxResponseBytes,
      take: (bytes: number) => {
        this.#bytes += bytes;
        if (this.#bytes > limits.maxTotalResponseBytes) {
          throw limit(`the responses of this execution exceed ${limits.maxTotalResponseBytes} bytes`, {
            maxTotalResponseBytes: limits.maxTotalResponseBytes,
          });
        }
      },
    };
    try {
      return await this.#perform(req, budget, AbortSignal.any([signal, user.signal, deadline]));
    } catch (err) {
      if (user.signal.aborted || signal.aborted)
        throw new SandboxFacingError('AbortError', 'This operation was aborted');
      if (deadline.aborted && !isMcpv8Error(err)) {
        throw new Mcpv8Error('MCPV8_ERR_FETCH_FAILED', [
          `${req.method} ${req.url.origin}`,
          'the execution deadline passed',
        ]);
      }
      throw err;
    } finally {
      this.#inFlight.delete(req.id);
    }
  }
}

function limit(message: string, details: Record<string, unknown>): Mcpv8Error {
  return new Mcpv8Error('MCPV8_ERR_FETCH_LIMIT', [message], { details });
}
