import type { Command } from 'commander';
import { MedtuneError } from '../../core/errors.js';
import { action, type ActionContext } from '../command.js';
import { createRuntimeSource } from '../../ui/runtime-source.js';
import { openTui } from '../../ui/tui.js';
import { DEMO_TRAIN } from './demo.js';

export const order = 0;

async function run(ctx: ActionContext): Promise<void> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new MedtuneError({
      doing: 'opening the TUI',
      problem: 'stdin and stdout must be a terminal',
      next: 'run `medtune` in a terminal (ssh -t for a remote one), or use the commands: `medtune --help`',
      code: 'NO_TTY',
    });
  }
  const source = createRuntimeSource(ctx.workspace, { demo: DEMO_TRAIN });
  await openTui({ source });
}

/** `medtune` with no command, and `medtune tui`, open the terminal UI on the workspace. */
export function register(program: Command): void {
  program.action(action(async (ctx) => {
    // With an action on the root, commander hands unknown words to it instead of complaining.
    const stray = ctx.command.args;
    if (stray.length > 0) {
      throw new MedtuneError({
        doing: 'reading the command line',
        problem: `unknown command "${stray[0]}"`,
        next: '`medtune --help` lists the commands; `medtune` alone opens the TUI',
        code: 'UNKNOWN_COMMAND',
      });
    }
    await run(ctx);
  }));
  program
    .command('tui')
    .description('open the terminal UI (the same as `medtune` with no command)')
    .action(action(async (ctx) => run(ctx)));
}
