import type { Command } from 'commander';
import { action, collect, progressTo } from '../command.js';
import { resolve } from 'node:path';
import { benchSweep, startSweep, sweepResult, waitSweep, type SweepBench, type SweepResult } from '../../app/index.js';
import { BENCH_IDS } from '../../core/bench.js';
import { parseRankBy } from '../../core/runcompare.js';
import { comparisonJson, comparisonLines, wantsColour } from '../compareview.js';
import type { Reporter } from '../output.js';

export const order = 32;

function report(r: Reporter, s: SweepResult): void {
  const ended = s.comparison.runs.filter((x) => ['completed', 'failed', 'stopped', 'cancelled'].includes(x.status)).length;
  r.result({ id: s.sweep.id, done: s.done, rank: s.sweep.rank, grid: s.sweep.grid, ...comparisonJson(s.comparison) }, [
    `sweep ${s.sweep.id}: ${ended}/${s.sweep.runs.length} runs ended${s.done ? '' : ` (the rest go on; \`medtune sweep status ${s.sweep.id}\` shows them later)`}, best first by ${s.sweep.rank}`,
    '',
    ...comparisonLines(s.comparison, { width: Math.min(process.stdout.columns || 100, 140), colour: wantsColour() }),
  ]);
}

function benchOf(opts: { bench?: string; benchSource?: string; benchLimit?: number }): SweepBench | undefined {
  if (!opts.bench) return undefined;
  return {
    bench: opts.bench,
    ...(opts.benchSource ? { sourceDir: resolve(opts.benchSource) } : {}),
    ...(opts.benchLimit ? { limit: opts.benchLimit } : {}),
  };
}

export function register(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('queue one run per combination of --grid values (named by what differs); when they end, print them compared, best first')
    .option('-g, --grid <key=v1,v2>', 'a LLaMA-Factory key and its values (repeatable: every combination runs)', collect)
    .option('-m, --model <name|path>', 'model folder under models/ or a path (default: medtune.yaml, else tiny-qwen2-vl)')
    .option('-d, --dataset <name>', 'dataset from data/dataset_info.json (repeatable; default: medtune.yaml)', collect)
    .option('--eval-dataset <name>', 'dataset for the eval-loss curve (default: NAME_val when it exists; "none" for no eval)')
    .option('-p, --profile <name>', 'hardware profile (as for `medtune train`)')
    .option('-s, --set <key=value>', 'override a LLaMA-Factory key in every run (repeatable)', collect)
    .option('--gpus <list>', 'pin every run to these GPUs (they then run one after another)')
    .option('--nproc <n>', 'processes per run (default on a GPU host: 1, so runs share the GPUs side by side)', Number)
    .option('--name <suffix>', 'added to every run id before the point name')
    .option('--rank <by>', 'best first by eval-loss (default), or bench:ID (scores of `medtune eval RUN --bench ID`)', 'eval-loss')
    .option('--bench <id>', `when the runs have ended, score each on a benchmark (${BENCH_IDS.join(', ')}) and rank by it`)
    .option('--bench-source <dir>', "a local copy of the benchmark's parquet files instead of the download")
    .option('--bench-limit <n>', "the benchmark's first n questions only", Number)
    .option('--detach', 'return once the runs are queued')
    .option('--json', 'print the comparison as JSON')
    .action(
      action(
        async (
          ctx,
          opts: {
            grid?: string[];
            model?: string;
            dataset?: string[];
            evalDataset?: string;
            profile?: string;
            set?: string[];
            gpus?: string;
            nproc?: number;
            name?: string;
            rank: string;
            bench?: string;
            benchSource?: string;
            benchLimit?: number;
            detach?: boolean;
          },
        ) => {
          const r = ctx.reporter;
          const record = await startSweep(
            ctx.app,
            {
              choices: {
                model: opts.model,
                datasets: opts.dataset,
                evalDataset: opts.evalDataset === 'none' ? null : opts.evalDataset,
                profile: opts.profile,
                overrides: opts.set,
                gpus: opts.gpus,
                nproc: opts.nproc,
                name: opts.name,
              },
              grid: opts.grid ?? [],
              rank: opts.bench ? { kind: 'bench', bench: opts.bench } : parseRankBy(opts.rank),
            },
            progressTo(r),
          );
          r.step(`sweep ${record.id}: ${record.runs.length} runs queued`);
          for (const run of record.runs) r.step(`  ${run.id}  ${run.overrides.join(' ')}`);
          if (opts.detach) {
            r.result(record, [`the runs start by themselves in turn; see them with: medtune sweep status ${record.id}`]);
            return;
          }
          let last = '';
          const result = await waitSweep(ctx.app, record.id, (s) => {
            const going = s.comparison.runs.filter((x) => !['completed', 'failed', 'stopped', 'cancelled', 'queued'].includes(x.status));
            const line = going.map((x) => `${x.id} step ${x.step}${x.totalSteps ? `/${x.totalSteps}` : ''}`).join(', ');
            if (line !== last) r.progress('sweep', s.comparison.runs.length - going.length, s.comparison.runs.length, line);
            last = line;
          });
          const final = opts.bench ? await benchSweep(ctx.app, record.id, benchOf(opts)!, progressTo(r)) : result;
          report(r, final);
          return final.comparison.runs.every((x) => x.status === 'completed') ? 0 : 1;
        },
      ),
    );

  sweep
    .command('status')
    .argument('[sweep]', 'sweep id, prefix or "latest"', 'latest')
    .description("a sweep's runs compared, best first (whether or not they have all ended)")
    .option('--bench <id>', 'score the completed runs that lack it on a benchmark first, and rank by it from now on')
    .option('--bench-source <dir>', "a local copy of the benchmark's parquet files instead of the download")
    .option('--bench-limit <n>', "the benchmark's first n questions only", Number)
    .option('--json', 'print the comparison as JSON')
    .action(
      action(async (ctx, ref: string) => {
        // `sweep`'s own --bench options take these words when they follow `status` too: read both levels.
        const b = benchOf(ctx.command.optsWithGlobals<{ bench?: string; benchSource?: string; benchLimit?: number }>());
        report(ctx.reporter, b ? await benchSweep(ctx.app, ref, b, progressTo(ctx.reporter)) : await sweepResult(ctx.app, ref));
      }),
    );
}
