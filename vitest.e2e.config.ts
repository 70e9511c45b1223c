// `npm run test:e2e`: the end-to-end suites against a running gateway named by MCP_V8_E2E_URL
// (scripts/e2e-kind.sh); they start no services of their own.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    // One line per test, so a CI log (and the skip reason without a gateway) reads on its own.
    reporters: ['verbose'],
    // One file at a time: the isolation checks exec into warm runner pods, which executions
    // started by the MCP suite in parallel would claim and delete under them.
    fileParallelism: false,
    // A fresh cluster may still be pulling images or starting runner pods on the first calls.
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
