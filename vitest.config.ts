// `npm test`: unit and embedded behaviour suites; needs nothing but Node 24.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/integration/**', 'test/e2e/**', 'test/pods/**', 'node_modules/**'],
    testTimeout: 20_000,
    // Some suites run isolated-vm sandboxes in the worker itself, which needs this flag.
    execArgv: ['--no-node-snapshot'],
  },
});
