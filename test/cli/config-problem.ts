// Shared by the config tests: the message of a configuration that must be refused.
import { loadConfig } from '../../src/cli/config.ts';
import { isMcpv8Error } from '../../src/core/index.ts';

/** The MCPV8_ERR_CONFIG_INVALID message `argv` + `env` give; fails the test when accepted. */
export function configProblem(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    loadConfig(argv, env);
  } catch (err) {
    if (isMcpv8Error(err, 'MCPV8_ERR_CONFIG_INVALID')) return err.message;
    throw err;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}
