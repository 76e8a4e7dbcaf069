/**
 * Experiments: runs side by side (`medtune runs compare`, the TUI's comparison), the queue and sweeps. The
 * comparison itself is core/runcompare.ts; the queue's decisions core/queue.ts; this file strings them together.
 */
import { MedtuneError } from '../core/errors.js';
import { compactTimestamp } from '../core/format.js';
import { TERMINAL_STATUSES } from '../core/run.js';
import { benchValue, compareRuns, parseRankBy, rankRuns, type Comparison, type RankBy } from '../core/runcompare.js';
import { expandGrid, parseGrid, type SweepRecord } from '../core/sweep.js';
import { readSweep, writeSweep } from '../runtime/sweeps.js';
import { startBoard, stopBoard, type BoardRecord } from '../runtime/board.js';
import { ignoreProgress, type OnProgress } from './events.js';
import { planError, planTrain, startTrain, type TrainChoices } from './train.js';
import { readCompareInput } from '../runtime/runcompare.js';
import type { App } from './context.js';
import { requireBenchmark } from '../runtime/bench.js';
import { benchEval } from './bench.js';
import { startQueued } from './queue.js';
import { runOrOutputDir } from './runs.js';

/** Compares runs (ids, prefixes, `latest`, or the paths of any LLaMA-Factory output folders), in the order given. */
export async function compareRunRefs(app: App, refs: readonly string[], rankBy?: RankBy): Promise<Comparison> {
  if (refs.length < 2) {
    throw new MedtuneError({
      doing: 'comparing runs',
      problem: refs.length ? `only one run was given (${refs[0]})` : 'no runs were given',
      next: 'name two or more: `medtune runs compare RUN RUN …` (ids from `medtune runs`, or output folders)',
      code: 'BAD_OPTION',
    });
  }
  return compareRefs(app, refs, rankBy);
}

async function compareRefs(app: App, refs: readonly string[], rankBy?: RankBy): Promise<Comparison> {
  const dirs = await Promise.all(refs.map((r) => runOrOutputDir(app, r)));
  const comparison = compareRuns(await Promise.all(dirs.map(readCompareInput)));
  if (!rankBy) return comparison;
  // Ranking reorders the runs; the per-run values of each differing parameter follow them.
  const order = rankRuns(comparison.runs, rankBy).map((r) => comparison.runs.indexOf(r));
  return {
    runs: order.map((i) => comparison.runs[i]!),
    differing: comparison.differing.map((d) => ({ key: d.key, values: order.map((i) => d.values[i]!) })),
  };
}

export interface SweepRequest {
  /** What every point shares (the train command's choices). */
  choices: TrainChoices;
  /** `KEY=V1,V2` texts. */
  grid: string[];
  rank: RankBy;
}

export interface SweepResult {
  sweep: SweepRecord;
  /** Every run of the sweep has ended. */
  done: boolean;
  comparison: Comparison;
}

const rankText = (r: RankBy) => (r.kind === 'bench' ? `bench:${r.bench}` : 'eval-loss');

/**
 * Plans and checks every point first (nothing is queued when one fails), then queues them in grid order. On a GPU
 * host each point gets one process unless the choices say otherwise, so points run side by side on free GPUs.
 */
export async function startSweep(app: App, req: SweepRequest, onProgress: OnProgress = ignoreProgress): Promise<SweepRecord> {
  // A benchmark to rank by must exist before anything is queued.
  if (req.rank.kind === 'bench') requireBenchmark(req.rank.bench, 'reading the sweep ranking');
  const points = expandGrid(parseGrid(req.grid));
  const gpus = await app.gpus();
  const sideBySide =
    gpus.length > 0 && req.choices.gpus === undefined && req.choices.nproc === undefined && req.choices.nnodes === undefined;
  const id = `${compactTimestamp(new Date())}-sweep`;
  const checked = [];
  for (const [i, p] of points.entries()) {
    onProgress({ phase: 'checking', done: i, total: points.length, message: p.overrides.join(' ') });
    const choices: TrainChoices = {
      ...req.choices,
      overrides: [...(req.choices.overrides ?? []), ...p.overrides],
      name: [req.choices.name, p.name].filter(Boolean).join('-'),
      ...(sideBySide ? { nproc: 1 } : {}),
    };
    const plan = await planTrain(app, choices);
    if (!plan.ok) throw planError(plan);
    checked.push({ choices, plan, point: p });
  }
  const runs: SweepRecord['runs'] = [];
  for (const [i, c] of checked.entries()) {
    onProgress({ phase: 'queueing', done: i, total: checked.length, message: c.point.name });
    const { manifest } = await startTrain(app, c.choices, { checked: c.plan, queue: { sweep: id } });
    runs.push({ id: manifest.id, overrides: c.point.overrides });
  }
  const record: SweepRecord = { id, createdAt: new Date().toISOString(), grid: parseGrid(req.grid), rank: rankText(req.rank), runs };
  await writeSweep(app.ws, record);
  return record;
}

/** A sweep's runs compared, best first by its ranking. */
export async function sweepResult(app: App, ref: string): Promise<SweepResult> {
  const sweep = await readSweep(app.ws, ref);
  const ids = sweep.runs.map((r) => r.id);
  const comparison = await compareRefs(app, ids, parseRankBy(sweep.rank));
  const done = comparison.runs.every((r) => (TERMINAL_STATUSES as readonly string[]).includes(r.status));
  return { sweep, done, comparison };
}

/** Waits until every run of the sweep has ended (they go on without this process); `onTick` sees each look. */
export async function waitSweep(
  app: App,
  ref: string,
  onTick: (r: SweepResult) => void,
  signal?: AbortSignal,
  everyMs = 2000,
): Promise<SweepResult> {
  for (;;) {
    await startQueued(app);
    const r = await sweepResult(app, ref);
    onTick(r);
    if (r.done || signal?.aborted) return r;
    await new Promise((res) => setTimeout(res, everyMs));
  }
}

/** TensorBoard on this workspace's runs, loopback only (the one already running, if any). */
export async function openBoard(app: App, opts: { port?: number } = {}): Promise<{ board: BoardRecord; started: boolean }> {
  return startBoard(app.ws, await app.venv(), opts);
}

export async function closeBoard(app: App): Promise<boolean> {
  return stopBoard(app.ws);
}

export interface SweepBench {
  bench: string;
  /** A local copy of the benchmark's parquet files instead of the Hub download. */
  sourceDir?: string;
  /** The first N questions. */
  limit?: number;
}

/**
 * Scores every completed run of a sweep on a benchmark (`medtune eval RUN --bench ID`, skipped for a run that
 * has that score already) and ranks the sweep by it from now on.
 */
export async function benchSweep(app: App, ref: string, b: SweepBench, onProgress: OnProgress = ignoreProgress): Promise<SweepResult> {
  const before = await sweepResult(app, ref);
  const todo = before.comparison.runs.filter((r) => r.status === 'completed' && benchValue(r, b.bench) === null);
  for (const [i, r] of todo.entries()) {
    await benchEval(app, { target: r.id, bench: b.bench, sourceDir: b.sourceDir ?? null, limit: b.limit }, (e) =>
      onProgress({ ...e, phase: `${r.id} (${i + 1}/${todo.length}): ${e.phase}` }),
    );
  }
  await writeSweep(app.ws, { ...before.sweep, rank: `bench:${b.bench}` });
  return sweepResult(app, ref);
}
