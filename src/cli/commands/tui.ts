import type { Command } from 'commander';
import { MedtuneError } from '../../core/errors.js';
import { action, type ActionContext } from '../command.js';
import { gpuWatch } from '../../app/index.js';
import { readLongLogsOffMainThread } from '../../runtime/trainerlogfile.js';

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
  // Loaded only here: every other command starts without the TUI's modules (ink, react).
  const [{ createRuntimeSource }, { openTui }] = await Promise.all([import('../../ui/runtime-source.js'), import('../../ui/tui.js')]);
  // The TUI draws on the main thread: the first read of a long log runs on worker threads only.
  readLongLogsOffMainThread();
  const source = createRuntimeSource(ctx.workspace);
  // The runs are read while Ink loads and draws its first frame; the Home screen's first request joins that read.
  void source.listRuns().catch(() => undefined);
  await openTui({ source, gpuOptions: (await gpuWatch(ctx.app)).options });
}

/** `medtune` with no command, and `medtune tui`, open the terminal UI on the workspace. */
export function register(program: Command): void {
  // A mistyped command reaches the root as an extra argument, which commander refuses on its own
  // ("too many arguments"); allowing excess arguments here would be inherited by every later command.
  program.action(action(async (ctx) => run(ctx)));
  program
    .command('tui')
    .description('open the terminal UI (the same as `medtune` with no command)')
    .action(action(async (ctx) => run(ctx)));
}
