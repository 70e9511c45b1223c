/**
 * The HTTP protocol between runner pods and the egress broker (src/gateway/egress). Every request
 * carries the run's egress token (egress-token.ts) as a bearer token and names the execution it
 * is for.
 *
 *   POST /v1/fetch   body: a fetch host-call payload (runner/host/fetch-request.ts), as the cell
 *                    sent it; the broker performs every hop (policy, injection, redirects) and
 *                    answers 200 with the FetchResult JSON the cell receives.
 *   POST /v1/module  body: {"url"}; the broker authorizes and performs ONE GET (redirects are
 *                    handed back, so the module loader asks again for the next hop) and answers
 *                    200 with the upstream body, its status and headers in EGRESS_HEADERS.
 *
 * A refusal answers the error's HTTP status with {"error": {"code", "message"}} (an Mcpv8Error)
 * or {"error": {"name", "message"}} (a TypeError or AbortError as web fetch() would throw).
 */
import { z } from 'zod';

export const EGRESS_FETCH_PATH = '/v1/fetch';
export const EGRESS_MODULE_PATH = '/v1/module';

/** Request and response headers of the protocol. */
export const EGRESS_HEADERS = {
  /** Request: the execution id the token was minted for. */
  execution: 'x-mcpv8-execution',
  /** Request (fetch): the largest response body the pod will take (its own budget left). */
  maxResponseBytes: 'x-mcpv8-max-response-bytes',
  /** Response (module): the upstream status. */
  status: 'x-mcpv8-upstream-status',
  /** Response (module): the upstream Location header, on a redirect. */
  location: 'x-mcpv8-upstream-location',
  /** Response (module): the upstream Content-Type. */
  contentType: 'x-mcpv8-upstream-content-type',
} as const;

/** Env var naming the broker in a runner pod (absent: requests leave the pod itself). */
export const EGRESS_URL_ENV = 'MCP_V8_EGRESS_URL';

/** Body of a module hop request. */
export const ModuleHopSchema = z.object({ url: z.string().min(1).max(8192) }).strict();

/** A refusal's body. */
export const EgressErrorSchema = z.object({
  error: z.object({
    code: z.string().max(64).optional(),
    name: z.string().max(64).optional(),
    message: z.string().max(4096),
  }),
});
export type EgressErrorBody = z.infer<typeof EgressErrorSchema>;
