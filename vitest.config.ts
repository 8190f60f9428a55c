import { defineConfig } from 'vitest/config';

// Two projects: `unit` (fast, no external tools) and `interop` (real skopeo,
// containerd, docker-registry, dockerd). CI runs both with PULLBENCH_REQUIRE_INTEROP=1.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.interop.test.ts', 'node_modules/**'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'interop',
          include: ['test/**/*.interop.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
