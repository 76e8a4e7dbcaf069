import { InvalidArgumentError, type Command } from 'commander';
import { action, collect, pickRun, progressTo } from '../command.js';
import { evaluateTarget } from '../../app/index.js';
import { formatEvalLines } from '../../core/evalreport.js';
import { MedtuneError } from '../../core/errors.js';
import { BENCH_IDS, formatBenchReport } from '../../core/bench.js';
import { BENCH_MAX_NEW_TOKENS, benchEval } from '../../app/index.js';

export const order = 50;

export function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

interface EvalFlags {
  base?: boolean;
  dataset?: string;
  limit?: number;
  batchSize: number;
  maxNewTokens?: number;
  set?: string[];
  bench?: string;
  benchSource?: string;
  withBase?: boolean;
}

export function register(program: Command): void {
  program
    .command('eval')
    .argument(
      '[target]',
      'run id (its adapter on its base), export name (export:NAME when a run has the same id), or model folder; default: latest, the newest completed run',
      'latest',
    )
    .description(
      "generate on a held-out split with LLaMA-Factory's predict path: BLEU-4, ROUGE-1/2/L, modality accuracy, per-sample answers; or on a medical VQA benchmark (--bench)",
    )
    .option('--base', "evaluate the target's base model alone (no adapter), with the same settings")
    .option('-d, --dataset <name>', "dataset entry (default: the run's dataset + _val)")
    .option('-n, --limit <n>', 'only the first N samples', positive)
    .option('--batch-size <n>', 'generation batch size', positive, 4)
    .option('--max-new-tokens <n>', `longest answer, in tokens (default 256; ${BENCH_MAX_NEW_TOKENS} with --bench)`, positive)
    .option('-s, --set <key=value>', 'override a LLaMA-Factory key of the predict YAML (repeatable)', collect)
    .option(
      '--bench <id>',
      `score on a medical VQA benchmark's test split, as the papers do: ${BENCH_IDS.join(', ')} (downloaded from the Hub once)`,
    )
    .option('--bench-source <dir>', "a local copy of the benchmark's parquet files instead of the download")
    .option('--with-base', 'with --bench: also evaluate the base model on the same questions and keep the per-question differences')
    .option('--json', 'print the report (metrics and per-sample answers) as JSON')
    .action(
      action(async (ctx, given: string, opts: EvalFlags) => {
        const r = ctx.reporter;
        const ref = await pickRun(ctx, 'eval', given);
        if (!opts.bench && (opts.benchSource || opts.withBase)) {
          throw new MedtuneError({
            doing: 'evaluating',
            problem: `${opts.benchSource ? '--bench-source' : '--with-base'} needs --bench`,
            next: `add --bench ${BENCH_IDS.join('|')}`,
            code: 'BAD_OPTION',
          });
        }
        if (opts.bench && opts.dataset) {
          throw new MedtuneError({
            doing: 'evaluating',
            problem: "--bench evaluates on the benchmark's own test split, so --dataset has no place beside it",
            next: 'drop --dataset, or drop --bench to evaluate on a dataset',
            code: 'BAD_OPTION',
          });
        }
        if (opts.bench) {
          const res = await benchEval(
            ctx.app,
            {
              target: ref,
              bench: opts.bench,
              sourceDir: opts.benchSource,
              base: opts.base,
              withBase: opts.withBase,
              limit: opts.limit,
              batchSize: opts.batchSize,
              maxNewTokens: opts.maxNewTokens,
              overrides: opts.set,
            },
            progressTo(r),
          );
          const label = (t: { label: string; base: boolean }) => (t.base ? `base model of ${t.label}` : t.label);
          r.result(
            res,
            formatBenchReport({
              bench: res.bench,
              targetLabel: label(res.target),
              dir: res.dir,
              scores: res.splits[res.bench.split]!,
              base: res.base && { label: label(res.base.target), scores: res.base.splits[res.bench.split]! },
              diff: res.diff,
              anchors: res.anchors,
            }),
          );
          return;
        }
        const { dir, report } = await evaluateTarget(
          ctx.app,
          {
            target: ref,
            base: opts.base,
            dataset: opts.dataset,
            limit: opts.limit,
            batchSize: opts.batchSize,
            maxNewTokens: opts.maxNewTokens,
            overrides: opts.set,
          },
          progressTo(r),
        );
        r.step(`predictions in ${dir} (${report.seconds} s)`);
        const label = report.target.base ? `the base model of ${report.target.label}` : report.target.label;
        r.result(
          { dir, ...report },
          formatEvalLines({ target: label, dataset: report.dataset, dir, metrics: report.metrics, samples: report.samples }),
        );
      }),
    );
}
