/**
 * Entry point of a runner pod as a plain script (tests and `node nats-entry.ts`); the product
 * starts the same thing as `mcp-v8 runner`. Must be started with `--no-node-snapshot`.
 *
 *   node --no-node-snapshot nats-entry.ts --nats-url nats://… --runner-id <pod name>
 *        [--options-file <path to JSON>] [--subject-prefix mcpv8] [--drain-timeout-ms 30000]
 *
 * Settings and their environment fallbacks: see pod/config.ts.
 */
import { startRunnerPod } from './pod/runner-pod.ts';

await startRunnerPod(process.argv.slice(2), process.env);
