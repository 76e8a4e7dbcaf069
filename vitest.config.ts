import { defineConfig } from 'vitest/config';

// Integration tests drive real processes (pip, llamafactory-cli) on a 2-core machine: run files one at a
// time and give them generous limits. Unit tests are fast either way.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30 * 60_000,
    reporters: ['default'],
    globalSetup: ['test/global-setup.ts'],
  },
});
