import { VAL_SUFFIX } from '../../core/dataset.js';
import type { Command } from 'commander';
import { action, optionFlag, pickRun, progressTo } from '../command.js';
import { settingOption } from '../../core/options.js';
import { compare } from '../../app/index.js';
import { formatCompareLines } from '../../core/evalreport.js';
import { positive } from './eval.js';
import { addScanOptions, scanOptions } from '../scanopts.js';

export const order = 51;

export function register(program: Command): void {
  const cmd = program
    .command('compare')
    .description('the same questions to the base and the tuned model, answers side by side, with references and metrics')
    .option(
      '-t, --tuned <run|export>',
      'the tuned model: a run id (adapter on its base), an export name (export:NAME when a run has the same id), or latest (the newest completed run)',
      'latest',
    )
    .option(
      '-b, --base <model>',
      'the base model: a folder, a name under models/ or an export (default: the one the tuned model was trained from)',
    )
    .option(
      '--images <files...>',
      'ask about these images, DICOM files/folders or NIfTI volumes, one question each (default: rows of the held-out dataset)',
    )
    .option('-p, --prompt <text>', "the question for every image (default: each row's own question)")
    .option('-d, --dataset <name>', "dataset entry for questions and reference captions (default: the run's dataset + _val)")
    .option('-n, --limit <n>', 'how many dataset rows', positive, 4)
    .option('--json', 'print the comparison as JSON');
  optionFlag(cmd, settingOption('compare', 'tokens'), { withDefault: true });
  addScanOptions(cmd).action(
    action(
      async (
        ctx,
        opts: {
          tuned: string;
          base?: string;
          images?: string[];
          prompt?: string;
          dataset?: string;
          limit: number;
          maxNewTokens: number;
          window?: string;
          slices?: string;
        },
      ) => {
        const r = ctx.reporter;
        const tuned = await pickRun(ctx, 'compare', opts.tuned);
        const report = await compare(
          ctx.app,
          {
            base: opts.base,
            tuned,
            images: opts.images,
            prompt: opts.prompt,
            dataset: opts.dataset,
            limit: opts.limit,
            maxNewTokens: opts.maxNewTokens,
            scan: scanOptions(opts),
          },
          progressTo(r),
        );
        r.step(
          `${report.items.length} questions${report.dataset ? ` from ${report.dataset}${report.dataset.endsWith(VAL_SUFFIX) ? ' (held-out rows the tuned model never saw)' : ''}` : ''} answered by both models in ${report.seconds} s on ${report.device}`,
        );
        const width = Math.max(60, Math.min(process.stdout.columns ?? 100, 160));
        r.result(report, [
          ...formatCompareLines(
            {
              baseLabel: report.base.label,
              tunedLabel: report.tuned.label,
              items: report.items,
              metrics: report.metrics,
              proof: report.proof,
            },
            width,
          ),
          `  saved: ${report.file}`,
        ]);
      },
    ),
  );
}
