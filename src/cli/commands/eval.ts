import { InvalidArgumentError, type Command } from 'commander';
import { action, collect, progressTo } from '../command.js';
import { evaluateTarget } from '../../app/index.js';
import { formatEvalLines } from '../../core/evalreport.js';

export const order = 50;

export function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

export function register(program: Command): void {
  program
    .command('eval')
    .argument('[target]', 'run id (its adapter on its base), export name (export:NAME when a run has the same id), or model folder; default: the latest run', 'latest')
    .description("generate on a held-out split with LLaMA-Factory's predict path: BLEU-4, ROUGE-1/2/L, modality accuracy, per-sample answers")
    .option('--base', "evaluate the target's base model alone (no adapter), with the same settings")
    .option('-d, --dataset <name>', "dataset entry (default: the run's dataset + _val)")
    .option('-n, --limit <n>', 'only the first N samples', positive)
    .option('--batch-size <n>', 'generation batch size', positive, 4)
    .option('--max-new-tokens <n>', 'longest answer, in tokens', positive, 256)
    .option('-s, --set <key=value>', 'override a LLaMA-Factory key of the predict YAML (repeatable)', collect)
    .option('--json', 'print the report (metrics and per-sample answers) as JSON')
    .action(action(async (ctx, ref: string, opts: { base?: boolean; dataset?: string; limit?: number; batchSize: number; maxNewTokens: number; set?: string[] }) => {
      const r = ctx.reporter;
      const { dir, report } = await evaluateTarget(ctx.app, {
        target: ref, base: opts.base, dataset: opts.dataset, limit: opts.limit, batchSize: opts.batchSize, maxNewTokens: opts.maxNewTokens, overrides: opts.set,
      }, progressTo(r));
      r.step(`predictions in ${dir} (${report.seconds} s)`);
      const label = report.target.base ? `the base model of ${report.target.label}` : report.target.label;
      r.result({ dir, ...report }, formatEvalLines({ target: label, dataset: report.dataset, dir, metrics: report.metrics, samples: report.samples }));
    }));
}
