// `npm run test:e2e`: the MCP end-to-end suite against a running gateway named by
// MCP_V8_E2E_URL (scripts/e2e-kind.sh); it starts no services of its own.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    // One line per test, so a CI log (and the skip reason without a gateway) reads on its own.
    reporters: ['verbose'],
    // A fresh cluster may still be pulling images or starting runner pods on the first calls.
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
