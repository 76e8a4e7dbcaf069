import { InvalidArgumentError, type Command } from 'commander';
import { action } from '../command.js';
import { fetchBaseModel, models as listModels, tinyModel } from '../../app/index.js';
import { describeProgress, formatParams, HUB_TITLES, HUBS, KNOWN_MODELS, type Hub } from '../../core/models.js';
import { formatBytes } from '../../core/format.js';

export const order = 25;

function hub(v: string): Hub {
  if (!(HUBS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${HUBS.join(', ')}`);
  return v as Hub;
}

function seed(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function register(program: Command): void {
  const model = program.command('model').description('base models in models/: build the tiny offline one, list, fetch from a hub');

  model
    .command('tiny')
    .description('build a tiny random Qwen2-VL offline (real tokens, chat template and processor; ~1 MB, seconds)')
    .option('--out <dir>', 'target folder (default: models/tiny-qwen2-vl); replaced if it exists')
    .option('--seed <n>', 'random seed; the same seed gives the same files', seed)
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, opts: { out?: string; seed?: number }) => {
        const r = ctx.reporter;
        const result = await tinyModel(ctx.app, (p) => r.progress(p.phase, p.done, p.total, p.message), {
          out: opts.out,
          seed: opts.seed,
        });
        r.result(result, [
          `✓ tiny Qwen2-VL at ${result.dir}`,
          `  ${formatParams(result.params)} parameters (${result.params.toLocaleString('en-US')}), ${formatBytes(result.bytes)}, vocabulary ${result.vocab}, built in ${result.seconds} s`,
          `  train it with: medtune train --model ${result.dir}`,
        ]);
      }),
    );

  model
    .command('list')
    .description('list model folders under models/ with kind, template, size and what each lacks')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx) => {
        const models = await listModels(ctx.app);
        const known = KNOWN_MODELS.map((m) => ({
          name: m.name,
          title: m.title,
          template: m.template,
          params: m.params,
          hubIds: m.hubIds,
          source: m.source,
        }));
        const lines = models.length
          ? table([
              ['NAME', 'KIND', 'TEMPLATE', 'PARAMS', 'SIZE', 'STATUS'],
              ...models.map((m) => [
                m.name,
                m.kind,
                m.template ?? '?',
                formatParams(m.params),
                formatBytes(m.bytes),
                m.complete ? 'ok' : `incomplete: ${m.missing.join('; ')}`,
              ]),
            ])
          : [`no models in ${ctx.workspace.modelsDir}`];
        lines.push('', 'known models:');
        for (const m of KNOWN_MODELS) {
          const where =
            Object.entries(m.hubIds)
              .map(([h, id]) => `${HUB_TITLES[h as Hub]} ${id}`)
              .join(', ') || 'built locally: `medtune model tiny`';
          lines.push(`  ${m.name.padEnd(12)} ${m.title} (${formatParams(m.params)}, template ${m.template}) — ${where}`);
        }
        ctx.reporter.result({ dir: ctx.workspace.modelsDir, models, known }, lines);
      }),
    );

  model
    .command('fetch')
    .argument(
      '<name>',
      `a known model (${KNOWN_MODELS.filter((m) => m.source === 'hub')
        .map((m) => m.name)
        .join(', ')}) or a hub repository id`,
    )
    .description('download a base model into models/<name> (fails within seconds when the hub is unreachable)')
    .option('--hub <hub>', 'hf (Hugging Face) or modelscope', hub, 'hf' as Hub)
    .option('--revision <rev>', 'branch, tag or commit')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ctx, name: string, opts: { hub: Hub; revision?: string }) => {
        const r = ctx.reporter;
        const result = await fetchBaseModel(ctx.app, name, opts.hub, {
          revision: opts.revision,
          onProgress: (p) => r.progress(p.phase, p.done, p.total, describeProgress(p)),
        });
        r.result(
          result,
          result.alreadyPresent
            ? `✓ ${result.dir} is already complete; nothing downloaded`
            : `✓ ${result.repoId} from ${HUB_TITLES[result.hub]} at ${result.dir} (${formatBytes(result.bytes)} in ${result.seconds} s)`,
        );
      }),
    );
}
