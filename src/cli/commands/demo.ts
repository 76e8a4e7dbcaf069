import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { action, progressTo } from '../command.js';
import { DEMO_TRAIN, openApp, startDemo } from '../../app/index.js';
import { renderStep } from '../../core/nextstep.js';
import { reportJob } from '../jobview.js';

export const order = 1;

/** The demo's own folder: the workspace named by -w or $MEDTUNE_WORKSPACE, the medtune-demo one you stand in, else ./medtune-demo. */
const DEMO_DIR = 'medtune-demo';

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
        const { origin, ws } = ctx.found;
        const own = origin === 'flag' || origin === 'env' || (origin === 'above' && basename(ws.root) === DEMO_DIR);
        // Opened by its folder: the -w its printed commands need comes with it.
        const { app, found } = openApp({ flag: own ? ws.root : resolve(DEMO_DIR) });
        const step = (s: Parameters<typeof renderStep>[0]) => renderStep(s, found.flag);
        r.info(`medtune demo in ${app.ws.root}`);
        const job = await startDemo(app, { epochs: opts.epochs }, progressTo(r));
        r.step(`python venv ready (${job.venvSeconds} s)`);
        r.step(
          `demo job ${job.id} started (detached: Ctrl-C leaves it running; \`${step({ kind: 'command', argv: ['attach', job.id] })}\` follows it)`,
        );
        if (opts.detach) {
          r.result({ job: job.id, dir: job.dir }, [
            `follow it: ${step({ kind: 'command', argv: ['attach', job.id] })}`,
            `stop it:   ${step({ kind: 'command', argv: ['stop', job.id] })}`,
          ]);
          return;
        }
        return reportJob(job.dir, r, step, job.venvSeconds);
      }),
    );
}
