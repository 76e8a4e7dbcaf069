/**
 * Runs side by side (`medtune runs compare`, the TUI's Compare runs screen, a sweep's result): which parameters
 * differ, how each run ended, and their loss curves overlaid in one chart. Pure: the runtime reads the folders.
 */
import { chartRowRuns, formatTick, lineChart, type Chart, type ChartSeries } from './chart.js';
import { formatDuration } from './format.js';
import { MedtuneError } from './errors.js';
import type { ConfigValue, TrainConfig } from './trainconfig.js';

/** A medical VQA benchmark's score of a run (the newest `medtune eval RUN --bench ID`). */
export interface BenchScore {
  bench: string;
  questions: number;
  /** Yes/no questions answered right, 0..1. */
  closedAccuracy: number | null;
  /** Token recall of open answers, 0..1. */
  openRecall: number | null;
}

/** What the runtime gathers of one run (or any LLaMA-Factory output folder). */
export interface CompareInput {
  id: string;
  dir: string;
  status: string;
  /** The config it was launched with (train.yaml, or LLaMA Board's training_args.yaml); null when none is found. */
  params: TrainConfig | null;
  /** [step, value], in step order. */
  loss: ReadonlyArray<readonly [number, number]>;
  evalLoss: ReadonlyArray<readonly [number, number]>;
  /** Samples per optimizer step over all processes (batch x accumulation x processes), for a samples axis. */
  samplesPerStep: number | null;
  step: number;
  totalSteps: number | null;
  /** LLaMA-Factory's all_results.json / train_results.json values, when the run ended. */
  trainLoss: number | null;
  finalEvalLoss: number | null;
  wallSeconds: number | null;
  samplesPerSecond: number | null;
  bench: BenchScore[];
}

export interface ParamDiff {
  key: string;
  /** One value per run, in the order of the runs (null: the key is not set in that run's config). */
  values: Array<ConfigValue | null>;
}

export interface ComparedRun {
  id: string;
  dir: string;
  status: string;
  step: number;
  totalSteps: number | null;
  /** The last logged training loss (LLaMA-Factory's average train_loss is `trainLoss`). */
  finalLoss: number | null;
  trainLoss: number | null;
  /** The last eval loss (all_results.json's, else the last logged). */
  evalLoss: number | null;
  wallSeconds: number | null;
  samplesPerSecond: number | null;
  bench: BenchScore[];
  curves: { loss: { steps: number[]; values: number[] }; evalLoss: { steps: number[]; values: number[] } };
  samplesPerStep: number | null;
  /** The run's config was found (a folder medtune did not launch may have none). */
  hasParams: boolean;
}

export interface Comparison {
  runs: ComparedRun[];
  /** Only the parameters whose values are not the same in every run that has a config. */
  differing: ParamDiff[];
}

/** Keys that differ between any two runs by construction and say nothing about the experiment. */
export const RUN_SPECIFIC_KEYS: ReadonlySet<string> = new Set([
  'output_dir',
  'logging_dir',
  'run_name',
  'swanlab_run_name',
  'resume_from_checkpoint',
  'tokenized_path',
]);

function same(a: ConfigValue | null, b: ConfigValue | null): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The keys whose values are not the same in every run that has a config, in first-seen key order. */
export function differingParams(configs: ReadonlyArray<TrainConfig | null>, ignore: ReadonlySet<string> = RUN_SPECIFIC_KEYS): ParamDiff[] {
  const known = configs.filter((c): c is TrainConfig => c !== null);
  if (known.length < 2) return [];
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const c of known)
    for (const k of Object.keys(c))
      if (!seen.has(k) && !ignore.has(k)) {
        seen.add(k);
        keys.push(k);
      }
  const out: ParamDiff[] = [];
  for (const key of keys) {
    const vals = known.map((c) => (key in c ? (c[key] ?? null) : null));
    if (vals.every((v) => same(v, vals[0]!))) continue;
    out.push({ key, values: configs.map((c) => (c === null ? null : key in c ? (c[key] ?? null) : null)) });
  }
  return out;
}

const lastValue = (pts: ReadonlyArray<readonly [number, number]>): number | null => (pts.length ? pts[pts.length - 1]![1] : null);

export function compareRuns(inputs: readonly CompareInput[]): Comparison {
  const runs = inputs.map(
    (r): ComparedRun => ({
      id: r.id,
      dir: r.dir,
      status: r.status,
      step: r.step,
      totalSteps: r.totalSteps,
      finalLoss: lastValue(r.loss),
      trainLoss: r.trainLoss,
      evalLoss: r.finalEvalLoss ?? lastValue(r.evalLoss),
      wallSeconds: r.wallSeconds,
      samplesPerSecond: r.samplesPerSecond,
      bench: r.bench,
      curves: {
        loss: { steps: r.loss.map((p) => p[0]), values: r.loss.map((p) => p[1]) },
        evalLoss: { steps: r.evalLoss.map((p) => p[0]), values: r.evalLoss.map((p) => p[1]) },
      },
      samplesPerStep: r.samplesPerStep,
      hasParams: r.params !== null,
    }),
  );
  return { runs, differing: differingParams(inputs.map((r) => r.params)) };
}

/** How a sweep or a comparison ranks its runs: lowest eval loss, or highest score on a benchmark. */
export type RankBy = { kind: 'eval-loss' } | { kind: 'bench'; bench: string };

/** A run's benchmark score as one number: closed accuracy, else open recall. */
export function benchValue(run: Pick<ComparedRun, 'bench'>, bench: string): number | null {
  const b = run.bench.find((s) => s.bench === bench);
  return b ? (b.closedAccuracy ?? b.openRecall) : null;
}

/** Best first; runs without the measure keep their order after the others. */
export function rankRuns<T extends Pick<ComparedRun, 'evalLoss' | 'finalLoss' | 'bench'>>(runs: readonly T[], by: RankBy): T[] {
  const key = (r: T): number | null => (by.kind === 'bench' ? benchValue(r, by.bench) : (r.evalLoss ?? null));
  const sign = by.kind === 'bench' ? -1 : 1;
  return runs
    .map((r, i) => ({ r, i, k: key(r) }))
    .sort((a, b) => {
      if (a.k === null || b.k === null) return a.k === null && b.k === null ? a.i - b.i : a.k === null ? 1 : -1;
      return sign * (a.k - b.k) || a.i - b.i;
    })
    .map((x) => x.r);
}

/** One marker per run: filled for the training loss, hollow for the eval loss, so NO_COLOR still tells them apart. */
export const RUN_MARKERS: ReadonlyArray<readonly [string, string]> = [
  ['●', '○'],
  ['■', '□'],
  ['▲', '△'],
  ['◆', '◇'],
  ['★', '☆'],
  ['✚', '✛'],
  ['▼', '▽'],
  ['◀', '◁'],
];

export function markersOf(index: number): readonly [string, string] {
  return RUN_MARKERS[index % RUN_MARKERS.length]!;
}

export type CompareAxis = 'steps' | 'samples';

/** The axis a comparison uses: samples when the runs' samples per step differ (a batch sweep) and all are known. */
export function defaultAxis(runs: ReadonlyArray<Pick<ComparedRun, 'samplesPerStep'>>): CompareAxis {
  const per = runs.map((r) => r.samplesPerStep);
  if (per.some((p) => p === null)) return 'steps';
  return new Set(per).size > 1 ? 'samples' : 'steps';
}

/** The chart series: for each run, its loss then its eval loss, as markers (series 2i and 2i+1 belong to run i). */
export function compareSeries(runs: readonly ComparedRun[], axis: CompareAxis): ChartSeries[] {
  return runs.flatMap((r, i) => {
    const scale = axis === 'samples' ? (r.samplesPerStep ?? 1) : 1;
    const [filled, hollow] = markersOf(i);
    const pts = (c: { steps: number[]; values: number[] }) => c.steps.map((s, j) => [s * scale, c.values[j]!] as const);
    return [
      { name: `${r.id} loss`, points: pts(r.curves.loss), kind: 'points' as const, marker: filled },
      { name: `${r.id} eval loss`, points: pts(r.curves.evalLoss), kind: 'points' as const, marker: hollow },
    ];
  });
}

/** The overlaid chart; series index s belongs to run floor(s / 2). */
export function compareChart(runs: readonly ComparedRun[], opts: { width: number; height: number; axis: CompareAxis }): Chart {
  return lineChart(compareSeries(runs, opts.axis), { width: opts.width, height: opts.height });
}

/** A value of a parameter as a table cell. */
export function paramText(v: ConfigValue | null): string {
  if (v === null) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The y-axis labels of a chart's rows: top, middle and bottom. */
export function yLabels(chart: Chart): string[] {
  const h = chart.rows.length;
  return chart.rows.map((_, i) => {
    if (i === 0) return formatTick(chart.yRange[1]);
    if (i === h - 1) return formatTick(chart.yRange[0]);
    if (i === Math.floor((h - 1) / 2)) return formatTick((chart.yRange[0] + chart.yRange[1]) / 2);
    return '';
  });
}

/** `steps` or `samples`, as the command line gives it. */
export function parseAxis(text: string): CompareAxis {
  if (text === 'steps' || text === 'samples') return text;
  throw new MedtuneError({
    doing: 'reading --x',
    problem: `"${text}" is not an axis`,
    next: 'pass --x steps or --x samples',
    code: 'BAD_OPTION',
  });
}

/** `eval-loss` or `bench:ID`, as the command line gives it. */
export function parseRankBy(text: string): RankBy {
  if (text === 'eval-loss') return { kind: 'eval-loss' };
  const m = /^bench:([a-z0-9-]+)$/.exec(text);
  if (m) return { kind: 'bench', bench: m[1]! };
  throw new MedtuneError({
    doing: 'reading the ranking',
    problem: `"${text}" is not a ranking`,
    next: 'rank by eval-loss, or by a benchmark score as bench:vqa-rad (scores from `medtune eval RUN --bench vqa-rad`)',
    code: 'BAD_OPTION',
  });
}

/** One row of the comparison chart: its y label and its cells grouped by the run that drew them (null: blank). */
export interface ComparisonChartRow {
  label: string;
  segments: Array<{ text: string; run: number | null }>;
}

/** The chart as rows, then the x axis lines under it; empty when no run has logged a loss. */
export function comparisonChart(
  c: Comparison,
  opts: { width: number; height?: number; axis?: CompareAxis },
): { rows: ComparisonChartRow[]; axisLines: string[]; labelWidth: number } {
  const axis = opts.axis ?? defaultAxis(c.runs);
  if (!c.runs.some((r) => r.curves.loss.steps.length || r.curves.evalLoss.steps.length)) return { rows: [], axisLines: [], labelWidth: 0 };
  const labelW = 8;
  const chart = compareChart(c.runs, { width: Math.max(20, opts.width - labelW - 2), height: opts.height ?? 14, axis });
  const labels = yLabels(chart);
  const rows = chart.rows.map((row, i) => ({
    label: labels[i]!.padStart(labelW),
    segments: chartRowRuns(row).map((seg) => ({ text: seg.text, run: seg.series === null ? null : Math.floor(seg.series / 2) })),
  }));
  const plotW = chart.rows[0]?.length ?? 0;
  const lo = formatTick(chart.xRange[0]);
  const hi = formatTick(chart.xRange[1]);
  return {
    rows,
    labelWidth: labelW,
    axisLines: [
      `${' '.repeat(labelW)} └${'─'.repeat(plotW)}`,
      `${' '.repeat(labelW + 2)}${lo}${' '.repeat(Math.max(1, plotW - lo.length - hi.length))}${hi}`,
      `${' '.repeat(labelW + 2)}x: ${axis === 'samples' ? 'samples seen' : 'optimizer steps'}`,
    ],
  };
}

/** The legend: each run's two markers and id. */
export function legendLines(c: Comparison): string[] {
  return c.runs.map((r, i) => {
    const [filled, hollow] = markersOf(i);
    return `${filled} ${hollow}  ${r.id}  (${r.status})`;
  });
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)];
}

const fixed = (v: number | null, digits = 4) => (v === null ? '—' : v.toFixed(digits));

/** The parameters that differ, then each run's results and scores, as text lines. */
export function comparisonTableLines(c: Comparison): string[] {
  const out: string[] = [];
  if (c.differing.length) {
    out.push('parameters that differ:');
    out.push(
      ...table(
        ['run', ...c.differing.map((d) => d.key)],
        c.runs.map((r, i) => [r.id, ...c.differing.map((d) => paramText(d.values[i] ?? null))]),
      ),
    );
  } else {
    const missing = c.runs.filter((r) => !r.hasParams).map((r) => r.id);
    out.push(missing.length ? `no config found for ${missing.join(', ')}: parameters not compared` : 'the runs share every parameter');
  }
  out.push('');
  const benches = [...new Set(c.runs.flatMap((r) => r.bench.map((b) => b.bench)))];
  out.push(
    ...table(
      ['run', 'step', 'last loss', 'train loss', 'eval loss', 'wall time', 'samples/s', ...benches],
      c.runs.map((r) => [
        r.id,
        `${r.step}${r.totalSteps ? `/${r.totalSteps}` : ''}`,
        fixed(r.finalLoss),
        fixed(r.trainLoss),
        fixed(r.evalLoss),
        r.wallSeconds === null ? '—' : formatDuration(r.wallSeconds),
        fixed(r.samplesPerSecond, 2),
        ...benches.map((b) => {
          const s = r.bench.find((x) => x.bench === b);
          if (!s) return '—';
          const parts = [
            s.closedAccuracy === null ? null : `closed ${(s.closedAccuracy * 100).toFixed(1)}%`,
            s.openRecall === null ? null : `open ${(s.openRecall * 100).toFixed(1)}%`,
          ];
          return parts.filter(Boolean).join(' ') || '—';
        }),
      ]),
    ),
  );
  return out;
}
