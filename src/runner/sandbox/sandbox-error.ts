/** How a failed host call looks to user code (see {@link toSandboxError}). */
import { isMcpv8Error } from '../../core/index.ts';
import { SandboxFacingError } from '../host/host-capability.ts';

/**
 * What the cell sees of a failed host call: the product's message under a descriptive name, and
 * nothing else (host stacks, file paths and internals must not reach user code). The prelude
 * throws it as an error created inside the isolate, so its stack points into the cell.
 */
export function toSandboxError(op: string, err: unknown): { name: string; message: string; code?: string } {
  if (err instanceof SandboxFacingError) {
    return { name: err.name, message: err.message, ...(err.code !== undefined && { code: err.code }) };
  }
  if (isMcpv8Error(err)) {
    const name = err.code.startsWith('MCPV8_ERR_MODULE_')
      ? 'ModuleError'
      : err.code.startsWith('MCPV8_ERR_POLICY_')
        ? 'PolicyError'
        : err.code.startsWith('MCPV8_ERR_FETCH_')
          ? 'TypeError'
          : 'Error';
    return { name, message: err.message, code: err.code };
  }
  if (err instanceof Error && err.name === 'AbortError')
    return { name: 'AbortError', message: `${op} was aborted` };
  process.stderr.write(`runner: host call ${op} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  return { name: 'Error', message: `${op} failed inside the runner` };
}
