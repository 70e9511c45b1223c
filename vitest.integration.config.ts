// `npm run test:integration`: the same behaviours against real NATS JetStream, S3, OPA and a
// Kubernetes control plane, started once by the global setup (see test/harness/).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/integration/**/*.int.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    // Cold service builds happen in the global setup, which has no timeout.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
