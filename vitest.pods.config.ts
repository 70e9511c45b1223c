// `npm run test:pods`: cluster mode on a real node — runner pods from the images built from the
// Dockerfiles, run by a real kubelet through containerd and runc, under limits the kernel
// enforces. Needs root (containerd, the kubelet, a network bridge); see test/harness/node/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/pods/**/*.pods.test.ts'],
    globalSetup: ['test/harness/node/pods-setup.ts'],
    // One node: the files share it, one at a time.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
