import type { Command } from 'commander';
import { action } from '../command.js';
import { closeBoard, openBoard } from '../../app/index.js';

export const order = 33;

export function register(program: Command): void {
  program
    .command('board')
    .description("TensorBoard on this workspace's runs (report_to=tensorboard), on 127.0.0.1 only; detached until --stop")
    .option('--port <n>', 'port on 127.0.0.1 (default 6006, or the next free one)', Number)
    .option('--stop', 'end the TensorBoard of this workspace')
    .option('--json', 'print as JSON')
    .action(
      action(async (ctx, opts: { port?: number; stop?: boolean }) => {
        if (opts.stop) {
          const stopped = await closeBoard(ctx.app);
          ctx.reporter.result({ stopped }, stopped ? '✓ TensorBoard stopped' : 'no TensorBoard was running for this workspace');
          return;
        }
        const { board, started } = await openBoard(ctx.app, { port: opts.port });
        ctx.reporter.result({ ...board, started }, [
          `${started ? '✓ TensorBoard started' : 'TensorBoard is already running'}: ${board.url}  (runs in ${board.logdir}, pid ${board.pid})`,
          `from another machine: ssh -L ${board.port}:127.0.0.1:${board.port} THIS_HOST, then open http://127.0.0.1:${board.port}/`,
          'stop it: medtune board --stop',
        ]);
      }),
    );
}
