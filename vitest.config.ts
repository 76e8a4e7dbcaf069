import { defineConfig } from 'vitest/config';

// Two tiers. `fast`: pure and TUI tests, no venv, files in parallel (`npm run test:fast`). `integration`: the
// real venv, real processes (pip, llamafactory-cli, tmux) on a 2-core machine, one file at a time with generous
// limits, after the fast tier. `npm test` runs both.
const VENV_TUI = ['test/tui/e2e-tmux.test.ts', 'test/tui/runtime-source.test.ts'];

export default defineConfig({
  test: {
    reporters: ['default'],
    setupFiles: ['test/setup-env.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/unit/**/*.test.ts', 'test/tui/**/*.test.ts', 'test/tui/**/*.test.tsx'],
          exclude: VENV_TUI,
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', ...VENV_TUI],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 30 * 60_000,
          globalSetup: ['test/global-setup.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
