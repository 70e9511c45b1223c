/**
 * The gate of every fs operation: turns the path(s) user code gave into the real path(s) the
 * operation may act on, or refuses. In order:
 *
 * 1. normalise (absolute, `..` collapsed, no NUL) — nothing touches the disk before step 3;
 * 2. confine to the configured roots, if any;
 * 3. ask the policy about the normalised path(s): `{operation, path, destination?, recursive?,
 *    encoding?}`;
 * 4. resolve symbolic links; the real path(s) must be inside the roots too, and when they differ
 *    from the normalised ones the policy is asked again, same operation, about the real ones —
 *    so a link inside an allowed directory cannot lead anywhere the policy did not allow.
 *
 * The operation then acts on the real path, never on the user's path, so what happens on disk is
 * what was authorized (apart from the race documented in fs-capability.ts).
 */
import { isMcpv8Error, type PolicyEngine } from '../../core/index.ts';
import { errnoError } from './fs-errors.ts';
import { normalizeUserPath, resolveRealPath, showPath, type FsRoots } from './fs-paths.ts';
import { SandboxFacingError } from './host-capability.ts';

/** Extra fields of a policy input besides operation, path and destination. */
export interface AccessDetails {
  recursive?: boolean;
  encoding?: 'utf8' | 'buffer';
}

/** One path of an operation: as given, normalised, and where it really leads. */
export interface ResolvedTarget {
  /** As user code gave it (what error messages quote). */
  user: string;
  normalised: string;
  real: string;
  /** Why the operation must fail (errno code), found while resolving; reported by the caller. */
  failure?: string;
}

export class FsAccess {
  readonly #policy: PolicyEngine;
  readonly #roots: FsRoots | undefined;

  constructor(policy: PolicyEngine, roots: FsRoots | undefined) {
    this.#policy = policy;
    this.#roots = roots;
  }

  /**
   * The authorized target(s) of `operation` on `paths` (one path, or source and destination).
   * `followFinal` says whether the operation follows a symbolic link in the last component
   * (readFile does, rm and rename act on the link itself).
   * @throws PolicyError (denied or unavailable), EACCES (outside the roots), EINVAL.
   */
  async authorize(
    operation: string,
    paths: readonly string[],
    followFinal: boolean,
    details: AccessDetails,
    signal: AbortSignal,
  ): Promise<ResolvedTarget[]> {
    const normalised = paths.map(normalizeUserPath);
    normalised.forEach((p, i) => this.#confine(p, paths[i]!, false));
    await this.#policy.authorize('filesystem', policyInput(operation, normalised, details), signal);
    signal.throwIfAborted();
    const targets: ResolvedTarget[] = [];
    for (const [i, p] of normalised.entries()) {
      const { real, failure } = await resolveRealPath(p, followFinal);
      this.#confine(real, paths[i]!, true);
      targets.push({ user: paths[i]!, normalised: p, real, ...(failure !== undefined && { failure }) });
    }
    if (targets.some((t) => t.real !== t.normalised)) {
      const reals = targets.map((t) => t.real);
      await this.#authorizeReal(operation, reals, paths, details, signal);
    }
    return targets;
  }

  /**
   * Asks about a further real path of `user` (stat's link itself, beside its target). Same rules
   * as the real paths of {@link authorize}.
   */
  async authorizeAlso(
    operation: string,
    real: string,
    user: string,
    details: AccessDetails,
    signal: AbortSignal,
  ): Promise<void> {
    this.#confine(real, user, true);
    await this.#authorizeReal(operation, [real], [user], details, signal);
  }

  /**
   * The policy's answer on real paths. Its message would quote them (a link's target is a host
   * path user code did not name), so a refusal is re-worded around the user's path.
   */
  async #authorizeReal(
    operation: string,
    reals: readonly string[],
    users: readonly string[],
    details: AccessDetails,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.#policy.authorize('filesystem', policyInput(operation, reals, details), signal);
    } catch (err) {
      if (!isMcpv8Error(err)) throw err;
      const what = `fs ${operation} ${users.map((u) => `'${showPath(u)}'`).join(' -> ')}`;
      const why =
        err.code === 'MCPV8_ERR_POLICY_DENIED'
          ? 'denied by policy: a symbolic link leads to a path the policy does not allow'
          : 'refused: the policy could not be evaluated for the path a symbolic link leads to';
      throw new SandboxFacingError('PolicyError', `${what} ${why}`, err.code);
    }
    signal.throwIfAborted();
  }

  #confine(p: string, user: string, real: boolean): void {
    if (!this.#roots || this.#roots.contains(p)) return;
    const why = real ? 'leads outside the directories' : 'is outside the directories';
    throw new SandboxFacingError(
      'Error',
      `EACCES: permission denied, '${showPath(user)}' ${why} this server allows`,
      'EACCES',
    );
  }
}

/** The policy input: exactly `{operation, path, destination?, recursive?, encoding?}`. */
function policyInput(operation: string, paths: readonly string[], details: AccessDetails) {
  return {
    operation,
    path: paths[0],
    ...(paths[1] !== undefined && { destination: paths[1] }),
    ...(details.recursive !== undefined && { recursive: details.recursive }),
    ...(details.encoding !== undefined && { encoding: details.encoding }),
  };
}

/** Throws the resolution failure of `target` as a Node-style error of `syscall`. */
export function throwIfFailed(targets: readonly ResolvedTarget[], syscall: string): void {
  const failed = targets.find((t) => t.failure !== undefined);
  if (failed)
    throw errnoError(
      failed.failure!,
      syscall,
      targets.map((t) => t.user),
    );
}
