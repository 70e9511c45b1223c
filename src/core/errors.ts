/**
 * The error catalogue: every failure the product reports has one stable code, defined once
 * here with its message template, HTTP status and retryability. Codes follow
 * `MCPV8_ERR_<AREA>_<PROBLEM>` and are never renamed or reused; `docs/errors.md` lists them
 * all (a test keeps the two in step).
 */
import { format } from 'node:util';

/** How one error code behaves at the edges. */
export interface ErrorDefinition {
  /** HTTP status the REST API answers with. */
  readonly statusCode: number;
  /** `util.format` template; `%s`/`%d` slots take the arguments given at the throw site. */
  readonly template: string;
  /** True when the same call may succeed later unchanged (queue full, service unavailable). */
  readonly retryable: boolean;
}

function define(statusCode: number, template: string, opts: { retryable?: boolean } = {}): ErrorDefinition {
  return Object.freeze({ statusCode, template, retryable: opts.retryable ?? false });
}

export const ERRORS = Object.freeze({
  MCPV8_ERR_CONFIG_INVALID: define(400, 'invalid configuration: %s'),
  MCPV8_ERR_SERVER_INTERNAL: define(500, 'internal error: %s'),
  MCPV8_ERR_MODULE_SPECIFIER_INVALID: define(400, 'cannot import %s: %s'),
  MCPV8_ERR_MODULE_NOT_FOUND: define(404, 'cannot import %s: %s answered %d'),
  MCPV8_ERR_MODULE_FETCH_FAILED: define(502, 'cannot import %s: %s', { retryable: true }),
  MCPV8_ERR_MODULE_TOO_LARGE: define(413, 'cannot import %s: source exceeds %d bytes'),
  MCPV8_ERR_MODULE_REDIRECT_LIMIT: define(508, 'cannot import %s: more than %d redirects'),
  MCPV8_ERR_MODULE_INVALID: define(422, 'cannot import %s: %s'),
  MCPV8_ERR_MODULE_GRAPH_LIMIT: define(413, 'cannot import %s: %s'),
  MCPV8_ERR_POLICY_DENIED: define(403, '%s denied by policy: %s'),
  MCPV8_ERR_POLICY_UNAVAILABLE: define(503, '%s refused: the policy could not be evaluated (%s)', {
    retryable: true,
  }),
  MCPV8_ERR_POLICY_UNCONFIGURED: define(403, '%s is not available: no %s policy is configured'),
  MCPV8_ERR_FETCH_LIMIT: define(429, 'fetch refused: %s'),
  MCPV8_ERR_FETCH_FAILED: define(502, 'fetch %s failed: %s', { retryable: true }),
  MCPV8_ERR_INPUT_INVALID: define(400, 'invalid input: %s'),
  MCPV8_ERR_LIMIT_HEAP_RANGE: define(400, 'heap_memory_max_mb must be an integer from %d to %d, got %s'),
  MCPV8_ERR_LIMIT_TIMEOUT_RANGE: define(
    400,
    'execution_timeout_secs must be an integer from %d to %d, got %s',
  ),
  MCPV8_ERR_ROUTE_NOT_FOUND: define(404, 'no route %s %s'),
  MCPV8_ERR_BODY_TOO_LARGE: define(413, 'the request body is larger than %d bytes'),
  MCPV8_ERR_CONTENT_TYPE: define(415, 'unsupported content type %s; send application/json or text/plain'),
  MCPV8_ERR_AUTH_REQUIRED: define(401, 'missing or invalid bearer token'),
  MCPV8_ERR_AUTH_FORBIDDEN: define(403, 'forbidden: %s'),
  MCPV8_ERR_AUTH_UNAVAILABLE: define(503, 'the bearer token could not be checked (%s); retry shortly', {
    retryable: true,
  }),
  MCPV8_ERR_HEAP_ID_INVALID: define(400, 'heap must be 64 lower-case hex characters, got "%s"'),
  MCPV8_ERR_HEAP_NOT_FOUND: define(404, 'no heap %s; resume from a heap id a completed execution returned'),
  MCPV8_ERR_HEAP_CORRUPT: define(500, 'stored heap %s is unusable: %s'),
  MCPV8_ERR_HEAP_REPLAY_FAILED: define(409, 'cannot resume heap %s: %s'),
  MCPV8_ERR_HEAP_STORE_UNAVAILABLE: define(503, 'the heap store is unavailable: %s', { retryable: true }),
  MCPV8_ERR_HEAP_JOURNAL_TOO_LARGE: define(
    413,
    'the cell completed, but what it observed exceeds the journal limit (%s), so the session was not advanced',
  ),
  MCPV8_ERR_SESSION_STATELESS: define(400, '%s is not available: the server runs with --stateless'),
  MCPV8_ERR_QUEUE_FULL: define(429, 'the execution queue is full (%d waiting); retry shortly', {
    retryable: true,
  }),
  MCPV8_ERR_EXEC_NOT_FOUND: define(404, 'no execution with id %s'),
  MCPV8_ERR_EXEC_FINISHED: define(409, 'execution %s already finished (%s)'),
  MCPV8_ERR_SERVER_SHUTTING_DOWN: define(503, 'the server is shutting down', { retryable: true }),
  MCPV8_ERR_CLUSTER_BUSY: define(503, 'the cluster is too busy to take this now (%s); retry shortly', {
    retryable: true,
  }),
  MCPV8_ERR_MCP_SESSION_LIMIT: define(
    429,
    'too many MCP sessions: %s; close sessions you no longer use (DELETE /mcp) or retry shortly',
    { retryable: true },
  ),
  MCPV8_ERR_MCP_SESSION_NOT_FOUND: define(
    404,
    'no MCP session "%s": it was closed or expired when idle; send initialize to start a new one',
  ),
} satisfies Record<string, ErrorDefinition>);

/** A stable error code from the catalogue. */
export type ErrorCode = keyof typeof ERRORS;

/** The one error class of the product: a code from the catalogue plus structured details. */
export class Mcpv8Error extends Error {
  override readonly name = 'Mcpv8Error';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly retryable: boolean;
  /** Machine-readable context (offending field, limits); never secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    args: readonly unknown[] = [],
    opts: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    const def = ERRORS[code];
    super(format(def.template, ...args), { cause: opts.cause });
    this.code = code;
    this.statusCode = def.statusCode;
    this.retryable = def.retryable;
    this.details = Object.freeze({ ...opts.details });
  }
}

/** True for an {@link Mcpv8Error}, optionally of one code. */
export function isMcpv8Error(err: unknown, code?: ErrorCode): err is Mcpv8Error {
  return err instanceof Mcpv8Error && (code === undefined || err.code === code);
}
