/**
 * Host capabilities: what user code may ask the runner to do beyond computing (fetch, fs). Each
 * capability answers some host-call ops; the runner creates one handler per execution so
 * per-execution bounds (request counts, bytes) live with the execution. Every payload comes from
 * hostile code: validate it before use. A failure the user should see as a plain JS error is a
 * {@link SandboxFacingError}; anything else reaches the cell as a generic message.
 */

/** The per-execution handler of a capability's ops. Resolves with the JSON the cell receives. */
export type CapabilityHandler = (op: string, payload: string, signal: AbortSignal) => Promise<unknown>;

export interface HostCapability {
  /** Name offered to the prelude (its extension installs the matching global), e.g. `fetch`. */
  readonly name: string;
  /** Host-call ops this capability answers, e.g. `['fetch']` or `['fs.readFile', …]`. */
  readonly ops: readonly string[];
  /** A handler for one execution, bound to its deadline. */
  forExecution(ctx: { executionId: string; deadline: number }): CapabilityHandler;
}

/**
 * An error meant for user code as it is: name (e.g. `TypeError`, `PolicyError`), message and an
 * optional Node-style code (`ENOENT`, `EACCES`…). Never put host paths or secrets in it.
 */
export class SandboxFacingError extends Error {
  readonly code: string | undefined;
  constructor(name: string, message: string, code?: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}
