/**
 * {@link RunnerPodSettings} from the controller's environment, as the chart sets it:
 * MCP_V8_RUNNER_IMAGE, MCP_V8_RUNNER_SERVICE_ACCOUNT, MCP_V8_RUNNER_POD_LABELS (JSON object) and
 * MCP_V8_RUNNER_POD_ENV (JSON array of core/v1 EnvVar: connection settings, secrets by reference).
 */
import { z } from 'zod';
import { Mcpv8Error } from '../../core/errors.ts';
import type { RunnerPodSettings } from './runner-pod.ts';

const LabelsSchema = z.record(
  z.string().min(1).max(317),
  z
    .string()
    .max(63)
    .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a label value'),
);

const KeyRefSchema = z.object({
  name: z.string().min(1),
  key: z.string().min(1),
  optional: z.boolean().optional(),
});

/** A core/v1 EnvVar; a literal value or a reference (secret values must be referenced). */
const EnvVarSchema = z
  .object({
    name: z.string().min(1),
    value: z.string().optional(),
    valueFrom: z
      .object({
        secretKeyRef: KeyRefSchema.optional(),
        configMapKeyRef: KeyRefSchema.optional(),
        fieldRef: z.object({ fieldPath: z.string().min(1), apiVersion: z.string().optional() }).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((e) => e.value === undefined || e.valueFrom === undefined, 'set value or valueFrom, not both');

const ENV = {
  image: 'MCP_V8_RUNNER_IMAGE',
  serviceAccount: 'MCP_V8_RUNNER_SERVICE_ACCOUNT',
  podLabels: 'MCP_V8_RUNNER_POD_LABELS',
  podEnv: 'MCP_V8_RUNNER_POD_ENV',
} as const;

/**
 * Reads the runner pod settings from `env`.
 * @throws Mcpv8Error MCPV8_ERR_CONFIG_INVALID naming the variable that is missing or malformed.
 */
export function runnerPodSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RunnerPodSettings {
  const required = (name: string): string => {
    const value = env[name]?.trim();
    if (!value) throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [`${name} is required`]);
    return value;
  };
  const json = <T>(name: string, schema: z.ZodType<T>, fallback: T): T => {
    const text = env[name]?.trim();
    if (!text) return fallback;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [`${name} is not JSON`]);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Mcpv8Error('MCPV8_ERR_CONFIG_INVALID', [
        `${name}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim(),
      ]);
    }
    return parsed.data;
  };
  return {
    image: required(ENV.image),
    serviceAccount: required(ENV.serviceAccount),
    podLabels: json(ENV.podLabels, LabelsSchema, {}),
    podEnv: json(ENV.podEnv, z.array(EnvVarSchema), []),
  };
}
