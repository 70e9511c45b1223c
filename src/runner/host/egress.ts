/**
 * Where a runner's outbound requests go. Without an egress (embedded mode, a pod given no
 * broker) the runner performs them itself: fetch() through fetch-exchange.ts with its own policy
 * and header rules, module downloads with the global fetch. With one (a runner pod given
 * MCP_V8_EGRESS_URL, see cluster/egress-client.ts) every request is performed by the egress
 * broker, which holds the header rules and asks its policy for every hop: the pod needs neither
 * internet access nor secrets.
 */
import type { FetchRequest } from './fetch-request.ts';
import type { BodyBudget, FetchResult } from './fetch-response.ts';

export interface RunnerEgress {
  /**
   * Run `executionId` starts, carrying `token` (its egress capability, from the run message):
   * its requests, and module downloads while it runs, use it. Returns what to call when the run
   * is over.
   */
  enter(executionId: string, token: string | undefined): () => void;
  /**
   * Performs one fetch() of `executionId`, every hop included, within `budget`.
   * @throws Mcpv8Error as fetch-exchange.ts does, SandboxFacingError for an invalid request, or
   *   what aborting `signal` caused.
   */
  fetch(
    executionId: string,
    req: FetchRequest,
    budget: BodyBudget,
    signal: AbortSignal,
  ): Promise<FetchResult>;
  /** A fetch for the module loader: one GET hop (redirects are handed back, as `redirect: 'manual'`). */
  readonly moduleFetch: typeof fetch;
}
