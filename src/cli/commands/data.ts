import { InvalidArgumentError, type Command } from 'commander';
import { action, optionFlag, progressTo } from '../command.js';
import { settingOption } from '../../core/options.js';
import { check, datasets, prepareData, preview } from '../../app/index.js';
import type { PrepareOptions } from '../../runtime/datasets.js';
import { LANGS, MODALITIES, checkSummaryLines, formatCounts, mergeHistograms, prepareSummaryLines, type Lang } from '../../core/dataset.js';

export const order = 20;

function int(min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number ≥ ${min}`);
    return n;
  };
}

function lang(v: string): Lang {
  if (!(LANGS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${LANGS.join(', ')}`);
  return v as Lang;
}

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}

/** The flags of `data prepare` are the runtime's options, with the name optional (it defaults to the source). */
type PrepareFlags = Omit<PrepareOptions, 'name' | 'unitRows' | 'signal' | 'onLog'> & { name?: string };

export function register(program: Command): void {
  const data = program.command('data').description('prepare, list, preview and check datasets (MedTrinity-25M → LLaMA-Factory)');

  const prep = data
    .command('prepare')
    .description('convert MedTrinity-25M rows into a LLaMA-Factory dataset in data/<name>/ and register it (resumable)')
    .option(
      '-s, --source <source>',
      "sample (offline sample set), hub:25M_demo, hub:25M_full (gated: set HF_TOKEN), a parquet file / folder, a folder of DICOM/NIfTI scans, or a benchmark's train split: bench:vqa-rad|slake|path-vqa[:DIR]",
      'sample',
    )
    .option(
      '--captions <csv>',
      'scan folders: a CSV with series,caption (series = a folder or file under the source, or a SeriesInstanceUID); without it the rows have no answers (an inference set)',
    )
    .option('--window <w>', 'scan folders: auto, lung, mediastinum, bone, brain, abdomen or CENTER/WIDTH')
    .option('--slices <s>', 'scan folders: middle, N, N,M,… or even:K')
    .option('--modality <list>', `keep only these modalities, comma-separated: ${MODALITIES.join(', ')}`)
    .option('--lang <lang>', 'language of the questions: en, zh or mixed (answers stay as captioned)', lang)
    .option('--force', 'replace an existing dataset of this name prepared from other data or options')
    .option('--json', 'print the result as JSON');
  for (const key of ['name', 'limit', 'valRatio', 'workers', 'maxPixels', 'minFreeGib']) optionFlag(prep, settingOption('prepare', key));
  prep.action(
    action(async (ctx, opts: PrepareFlags) => {
      const r = ctx.reporter;
      const result = await prepareData(
        ctx.app,
        {
          source: opts.source,
          name: opts.name,
          limit: opts.limit,
          valRatio: opts.valRatio,
          modality: opts.modality,
          lang: opts.lang,
          workers: opts.workers,
          maxPixels: opts.maxPixels,
          force: opts.force,
          captions: opts.captions,
          window: opts.window,
          slices: opts.slices,
          minFreeGib: opts.minFreeGib,
          onLog: (m) => r.info(m),
        },
        progressTo(r),
      );
      r.result(result, prepareSummaryLines(result));
    }),
  );

  data
    .command('list')
    .description('datasets registered in data/dataset_info.json, with row counts and modalities')
    .option('--json', 'print the list as JSON')
    .action(
      action(async (ctx) => {
        const list = await datasets(ctx.app);
        const lines = list.length
          ? list.map(
              (d) =>
                `${d.registered ? ' ' : '!'} ${d.entry.padEnd(28)} ${String(d.rows ?? '?').padStart(7)} rows  ${clip(formatCounts(d.modalities), 60).padEnd(60)}  ${d.source ?? d.file ?? ''}`,
            )
          : ['No datasets yet. Prepare one: medtune data prepare --source sample'];
        if (list.some((d) => !d.registered))
          lines.push('! = prepared but not registered; run the same `data prepare` again to register it');
        ctx.reporter.result({ datasets: list }, lines);
      }),
    );

  data
    .command('preview <name>')
    .description('counts, modality histogram and sample rows (question, answer, image) of a dataset entry')
    .option('--limit <n>', 'rows to show', int(1), 3)
    .option('--offset <n>', 'first row to show (0-based)', int(0), 0)
    .option('--json', 'print the preview as JSON')
    .action(
      action(async (ctx, name: string, opts: { limit: number; offset: number }) => {
        const p = await preview(ctx.app, name, { limit: opts.limit, offset: opts.offset });
        const m = p.manifest;
        const lines = [`${p.entry}: ${p.total} rows in data/${p.file}${m ? ` (from ${m.source.spec}, ${m.created_at})` : ''}`];
        if (m) {
          lines.push(`  modalities (${p.split}): ${formatCounts(m.modalities[p.split ?? 'train'])}`);
          lines.push(
            `  all splits: ${formatCounts(mergeHistograms(m.modalities.train, m.modalities.val))} · train ${m.counts.train} / val ${m.counts.val}`,
          );
          lines.push(`  skipped when prepared: ${formatCounts(m.counts.skipped)}`);
        }
        for (const row of p.rows) {
          lines.push('', `#${row.line}${row.modality ? ` [${row.modality}]` : ''}${row.id ? ` ${clip(row.id, 40)}` : ''}`);
          lines.push(`  Q: ${row.question}`);
          lines.push(`  A: ${clip(row.answer, 400)}`);
          for (const img of row.imagePaths) lines.push(`  image: ${img}`);
        }
        ctx.reporter.result(p, lines);
      }),
    );

  data
    .command('check <name>')
    .description(
      "LLaMA-Factory's row checks over <name> and <name>_val: roles, message count, placeholders = images, images exist and decode",
    )
    .option('--json', 'print the report as JSON')
    .action(
      action(async (ctx, name: string) => {
        const r = ctx.reporter;
        const { result } = await check(ctx.app, name, progressTo(r));
        r.result(result, checkSummaryLines(result));
        return result.ok ? 0 : 1;
      }),
    );
}
