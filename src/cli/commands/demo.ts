import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action, progressTo } from '../command.js';
import { appAt, DEMO_TRAIN, startDemo } from '../../app/index.js';
import { reportJob } from '../jobview.js';

export const order = 1;

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'the whole pipeline on CPU, offline: sample MedTrinity-style data → tiny Qwen2-VL → LoRA training → merge → verify → learning check (a detached job: Ctrl-C leaves it running)',
    )
    .option('--epochs <n>', 'training epochs', (v) => Number(v), DEMO_TRAIN.epochs)
    .option('--detach', 'return as soon as the demo job has started')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { epochs: number; detach?: boolean }) => {
        const r = ctx.reporter;
        const flagged = ctx.command.optsWithGlobals().workspace as string | undefined;
        const app = flagged || process.env.MEDTUNE_WORKSPACE ? ctx.app : appAt(resolve('medtune-demo'));
        r.info(`medtune demo in ${app.ws.root}`);
        const job = await startDemo(app, { epochs: opts.epochs }, progressTo(r));
        r.step(`python venv ready (${job.venvSeconds} s)`);
        r.step(`demo job ${job.id} started (detached: Ctrl-C leaves it running; \`medtune attach ${job.id}\` follows it)`);
        if (opts.detach) {
          r.result({ job: job.id, dir: job.dir }, [`follow it: medtune attach ${job.id}`, `stop it:   medtune stop ${job.id}`]);
          return;
        }
        return reportJob(job.dir, r, job.venvSeconds);
      }),
    );
}
