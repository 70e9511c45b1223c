/**
 * The PolicyEngine over OPA: each operation of a configured category is put to every source of
 * that category (in parallel, within one decision timeout) and the verdicts combine by the
 * category's mode — `all`: every source allows (the first denial decides at once); `any`: one
 * allow is enough (and decides at once). Fails closed: a decision that cannot be made for sure
 * refuses the operation as unavailable.
 */
import {
  Mcpv8Error,
  type OpaSource,
  type PolicyCategory,
  type PolicyEngine,
  type PolicyInput,
  type ResolvedCategory,
  type ResolvedPolicies,
} from '../../core/index.ts';
import { queryOpa, type Verdict } from './opa-query.ts';
import { operationLabel } from './operation-label.ts';

export interface OpaPolicyEngineOptions {
  /** Fetch implementation; the global (undici) fetch by default. */
  fetch?: typeof fetch;
  /** Most bytes of one OPA answer read; default 1 MiB. */
  maxResponseBytes?: number;
}

/**
 * Asks OPA about every operation of the configured categories.
 *
 * Concurrency: `authorize` may be called concurrently; calls share nothing but the HTTP
 * connection pool.
 */
export class OpaPolicyEngine implements PolicyEngine {
  readonly #policies: ResolvedPolicies;
  readonly #fetch: typeof fetch;
  readonly #maxResponseBytes: number;

  constructor(policies: ResolvedPolicies, opts: OpaPolicyEngineOptions = {}) {
    this.#policies = policies;
    // Looked up per call rather than captured, so a test (or instrumentation) can swap the global.
    this.#fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#maxResponseBytes = opts.maxResponseBytes ?? 1024 * 1024;
  }

  has(category: PolicyCategory): boolean {
    return this.#policies[category] !== undefined;
  }

  /**
   * Resolves when the category's policies allow `input`.
   * @throws Mcpv8Error MCPV8_ERR_POLICY_DENIED, MCPV8_ERR_POLICY_UNAVAILABLE,
   *   MCPV8_ERR_POLICY_UNCONFIGURED; `signal.reason` when the caller aborts.
   */
  async authorize(category: PolicyCategory, input: PolicyInput, signal?: AbortSignal): Promise<void> {
    const what = operationLabel(category, input);
    const policies = this.#policies[category];
    if (policies === undefined) throw new Mcpv8Error('MCPV8_ERR_POLICY_UNCONFIGURED', [what, category]);
    signal?.throwIfAborted();

    const timeout = AbortSignal.timeout(policies.timeoutMs);
    // Aborted as soon as the decision is made, so sources still thinking are not waited for.
    const decided = new AbortController();
    const all = AbortSignal.any([timeout, decided.signal, ...(signal ? [signal] : [])]);
    const body = JSON.stringify({ input });
    const ask = (source: OpaSource): Promise<Verdict> =>
      queryOpa({
        source,
        body,
        signal: all,
        timeout: { signal: timeout, ms: policies.timeoutMs },
        fetch: this.#fetch,
        maxResponseBytes: this.#maxResponseBytes,
      });
    let verdicts: ReadonlyArray<Verdict | undefined>;
    try {
      verdicts = await untilDecisive(policies.sources.map(ask), policies.mode === 'all' ? 'deny' : 'allow');
    } finally {
      decided.abort();
    }
    signal?.throwIfAborted();
    decide(what, category, policies, verdicts);
  }
}

/**
 * Waits for every verdict, or only until the first of kind `decisive`. The array has the
 * verdicts in source order; sources that had not answered yet are undefined.
 */
async function untilDecisive(
  pending: ReadonlyArray<Promise<Verdict>>,
  decisive: Verdict['kind'],
): Promise<ReadonlyArray<Verdict | undefined>> {
  const verdicts: Array<Verdict | undefined> = pending.map(() => undefined);
  const done = Promise.withResolvers<void>();
  let left = pending.length;
  if (left === 0) done.resolve();
  pending.forEach(
    (p, i) =>
      void p.then((verdict) => {
        verdicts[i] = verdict;
        if (verdict.kind === decisive || --left === 0) done.resolve();
      }),
  );
  await done.promise;
  // A copy: late verdicts of abandoned sources must not change what was decided.
  return [...verdicts];
}

type Denial = Extract<Verdict, { kind: 'deny' }>;
type Unavailable = Extract<Verdict, { kind: 'unavailable' }>;

/** Returns when allowed; throws the error the verdicts call for. */
function decide(
  what: string,
  category: PolicyCategory,
  policies: ResolvedCategory,
  verdicts: ReadonlyArray<Verdict | undefined>,
): void {
  const details = { category, mode: policies.mode, policies: policies.sources.map((s) => s.path) };
  const denials = verdicts.filter((v): v is Denial => v?.kind === 'deny');
  const unavailable = verdicts.find((v): v is Unavailable => v?.kind === 'unavailable');
  if (policies.mode === 'all') {
    if (denials.length > 0)
      throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [what, denials[0]!.why], { details });
    if (unavailable !== undefined) throw unavailableError(what, unavailable, details);
    return;
  }
  if (verdicts.some((v) => v?.kind === 'allow')) return;
  // With a source unheard, an allow was possible: refusing as "denied" would misreport the policy.
  if (unavailable !== undefined) throw unavailableError(what, unavailable, details);
  throw new Mcpv8Error('MCPV8_ERR_POLICY_DENIED', [what, denials.map((d) => d.why).join('; ')], { details });
}

function unavailableError(what: string, verdict: Unavailable, details: Record<string, unknown>): Mcpv8Error {
  return new Mcpv8Error('MCPV8_ERR_POLICY_UNAVAILABLE', [what, verdict.why], {
    details,
    cause: verdict.cause,
  });
}
