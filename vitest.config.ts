import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Three tiers, run one after the other (groupOrder). `unit`: pure tests, files in parallel. `tui`: the screens in
// ink-testing-library, one file at a time (keys sent while another file renders beside them can arrive before a
// screen listens). `integration`: the real venv and real processes (pip, llamafactory-cli, tmux) on a 2-core machine,
// one file at a time with generous limits. `npm run test:fast` runs the first two, `npm test` all three.
const VENV_TUI = ['test/tui/e2e-tmux.test.ts', 'test/tui/runtime-source.test.ts'];

export default defineConfig({
  test: {
    reporters: ['default'],
    setupFiles: ['test/setup-env.ts'],
    testTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Vitest's default is one worker less than the cores: a single worker on a 2-core CI machine.
          maxWorkers: availableParallelism(),
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'tui',
          include: ['test/tui/**/*.test.ts', 'test/tui/**/*.test.tsx'],
          exclude: VENV_TUI,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', ...VENV_TUI],
          fileParallelism: false,
          hookTimeout: 30 * 60_000,
          globalSetup: ['test/global-setup.ts'],
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
