/**
 * Reading a role's settings from its environment (the MCP_V8_* variables a chart renders): one
 * zod schema per role, and one error that names every bad variable at once.
 */
import type { z } from 'zod';
import { Mcpv8Error } from './errors.ts';

/** Parses `env` with `schema`. @throws MCPV8_ERR_CONFIG_INVALID listing every problem. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [problems]);
}
