/**
 * Medical VQA benchmarks in a workspace: converts a benchmark's parquet (the Hub download or a local copy) once
 * into data/<name>/ with the bench_prepare helper, and registers its entries in dataset_info.json under the lock.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { BENCH_IDS, benchmark, parseBenchSource, type Benchmark, type BenchSplit } from '../core/bench.js';
import { MedtuneError } from '../core/errors.js';
import { datasetNameProblem, entryNames, sharegptEntry, type DataProgress, type PrepareResult } from '../core/dataset.js';
import { readDatasetInfo, updateDatasetInfo } from './datasetinfo.js';
import type { PrepareOptions } from './datasets.js';
import { runHelper } from './pythonhelper.js';
import { cacheRoot } from './paths.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

const SplitCounts = z.object({
  rows: z.number(),
  kept: z.number(),
  skipped: z.record(z.string(), z.number()),
  copied: z.number(),
  converted: z.number(),
  file: z.string(),
  files: z.number(),
});

export const BenchPrepared = z.object({
  name: z.string(),
  dir: z.string(),
  bench: z.string(),
  repo: z.string(),
  source: z.object({
    spec: z.string(),
    kind: z.string(),
    layout: z.string(),
    root: z.string(),
    files: z.number(),
    revision: z.string().nullable().optional(),
  }),
  splits: z.record(z.string(), SplitCounts),
  skipped: z.record(z.string(), z.number()),
  reused: z.boolean(),
  seconds: z.number(),
});
export type BenchPrepared = z.infer<typeof BenchPrepared> & {
  /** dataset_info.json entry of each converted split. */
  entries: Partial<Record<BenchSplit, string>>;
};

export interface BenchPrepareOptions {
  bench: string;
  splits: BenchSplit[];
  /** Dataset folder and entry base name. */
  name: string;
  /** A local copy of the benchmark's parquet files (relative to the current directory); default: the Hub. */
  sourceDir?: string | null;
  force?: boolean;
  /** Entry names by split; default: `<name>_<split>` (validation: `<name>_val`). */
  entryNames?: Partial<Record<BenchSplit, string>>;
  signal?: AbortSignal;
}

/** The benchmark an id names, or a MedtuneError listing the known ones. */
export function requireBenchmark(id: string, doing: string): Benchmark {
  const b = benchmark(id);
  if (!b)
    throw new MedtuneError({
      doing,
      problem: `unknown benchmark "${id}"`,
      next: `use one of ${BENCH_IDS.join(', ')}`,
      code: 'UNKNOWN_BENCH',
    });
  return b;
}

const defaultEntry = (name: string, split: BenchSplit) => (split === 'validation' ? `${name}_val` : `${name}_${split}`);

/** Converts the benchmark's splits into data/<name>/ (once; reused while the source files are the same) and registers them. */
export async function prepareBench(
  ws: Workspace,
  venv: Venv,
  opts: BenchPrepareOptions,
  onProgress?: (p: DataProgress) => void,
): Promise<BenchPrepared> {
  const doing = `preparing benchmark ${opts.bench}`;
  const b = requireBenchmark(opts.bench, doing);
  const nameProblem = datasetNameProblem(opts.name);
  if (nameProblem) throw new MedtuneError({ doing, problem: nameProblem, next: 'pass another --name', code: 'BAD_NAME' });
  const wanted = opts.splits.filter((s) => b.splits.includes(s));
  if (!wanted.length)
    throw new MedtuneError({
      doing,
      problem: `${b.label} has no ${opts.splits.join('/')} split`,
      next: `its splits: ${b.splits.join(', ')}`,
      code: 'BAD_SPLIT',
    });
  await readDatasetInfo(ws);
  const args = [
    '--bench',
    b.id,
    '--repo',
    b.repo,
    '--splits',
    wanted.join(','),
    '--data-dir',
    ws.dataDir,
    '--name',
    opts.name,
    '--columns',
    [b.columns.image, b.columns.question, b.columns.answer].join(','),
    '--cache',
    join(cacheRoot(), 'bench'),
  ];
  // A validation split is welcome when a benchmark has one, never required.
  if (wanted.includes('validation')) args.push('--optional-splits', 'validation');
  if (opts.sourceDir) args.push('--source', isAbsolute(opts.sourceDir) ? opts.sourceDir : resolve(opts.sourceDir));
  if (opts.force) args.push('--force');
  const prepared = await runHelper('bench_prepare', args, BenchPrepared, {
    venv,
    doing,
    signal: opts.signal,
    onEvent: (e) => {
      if (e.event === 'progress') onProgress?.({ phase: e.phase, done: e.done ?? 0, total: e.total ?? null, message: e.message });
    },
  });
  const entries: Partial<Record<BenchSplit, string>> = {};
  await updateDatasetInfo(ws, (info) => {
    for (const [split, c] of Object.entries(prepared.splits) as [BenchSplit, z.infer<typeof SplitCounts>][]) {
      const entry = opts.entryNames?.[split] ?? defaultEntry(opts.name, split);
      info[entry] = sharegptEntry(c.file);
      entries[split] = entry;
    }
    return info;
  });
  return { ...prepared, entries };
}

/**
 * `data prepare --source bench:<id>[:<dir>]`: the benchmark's train split (and validation split, where it has one)
 * as a training dataset, registered as `<name>` and `<name>_val` like every prepared dataset.
 */
export async function prepareBenchDataset(
  ws: Workspace,
  venv: Venv,
  opts: PrepareOptions,
  onProgress?: (p: DataProgress) => void,
): Promise<PrepareResult> {
  const doing = `preparing dataset ${opts.name}`;
  const parsed = parseBenchSource(opts.source);
  // A benchmark's splits are the papers' splits: re-splitting, filtering or re-asking them would break comparability.
  // (valRatio is not refused: the TUI always sends one; a benchmark keeps its own validation split instead.)
  const medtrinityOnly = (['limit', 'modality', 'lang', 'maxPixels'] as const).filter((k) => opts[k] !== undefined);
  if (medtrinityOnly.length)
    throw new MedtuneError({
      doing,
      problem: `${medtrinityOnly.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} ${medtrinityOnly.length > 1 ? 'apply' : 'applies'} to MedTrinity sources, not to a benchmark (its splits and questions are kept as published)`,
      next: `drop ${medtrinityOnly.length > 1 ? 'them' : 'it'}`,
      code: 'BAD_OPTION',
    });
  if (!parsed)
    throw new MedtuneError({
      doing,
      problem: `${opts.source} is not a benchmark source`,
      next: `use bench:${BENCH_IDS[0]} or bench:${BENCH_IDS[0]}:DIR`,
      code: 'BAD_SOURCE',
    });
  const r = await prepareBench(
    ws,
    venv,
    {
      bench: parsed.id,
      splits: ['train', 'validation'],
      name: opts.name,
      sourceDir: parsed.dir,
      force: opts.force,
      signal: opts.signal,
      entryNames: { train: entryNames(opts.name).train, validation: entryNames(opts.name).val },
    },
    onProgress,
  );
  const train = r.splits.train;
  const val = r.splits.validation;
  const splits = Object.values(r.splits);
  const sum = (k: 'rows' | 'kept' | 'copied' | 'converted') => splits.reduce((a, c) => a + c[k], 0);
  return {
    name: r.name,
    dir: r.dir,
    kept: sum('kept'),
    skipped: r.skipped,
    train: train?.kept ?? 0,
    val: val?.kept ?? 0,
    rows_read: sum('rows'),
    converted: sum('converted'),
    copied: sum('copied'),
    neutralised: 0,
    modalities: { train: {}, val: {} },
    content_hash: '',
    source: r.source.spec,
    layout: 'bench',
    limit_reached: false,
    warnings: [],
    reused: r.reused,
    resumed_units: 0,
    processed_units: r.reused ? 0 : splits.length,
    units: splits.length,
    seconds: r.seconds,
    entries: { train: r.entries.train ?? entryNames(opts.name).train, val: r.entries.validation ?? null },
  };
}
