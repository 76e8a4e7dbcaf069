/**
 * The benchmark use case: `medtune eval <model> --bench vqa-rad|slake|path-vqa` (and the TUI, when it offers it).
 * Converts the benchmark's eval split once (Hub download or a local copy), generates the answers through
 * LLaMA-Factory's predict path (runtime/evaluate.ts, the same machinery as every other eval), scores them the way
 * the papers do (core/bench.ts) and, with `withBase`, runs the target's base model on the same questions and keeps
 * the per-question differences in bench-diff.jsonl.
 */
import { join } from 'node:path';
import {
  benchEvalDataset,
  diffBench,
  scoreBench,
  type BenchId,
  type BenchItem,
  type BenchScores,
  type BenchSplit,
  type PublishedAnchor,
} from '../core/bench.js';
import type { DataProgress } from '../core/dataset.js';
import { MedtuneError } from '../core/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../runtime/atomic.js';
import { prepareBench, requireBenchmark } from '../runtime/bench.js';
import { evaluate, type EvalReport } from '../runtime/evaluate.js';
import type { App } from './context.js';
import { ignoreProgress, type OnProgress } from './events.js';

/** Benchmark answers are a word or a phrase; a long budget only lets a base model ramble. */
export const BENCH_MAX_NEW_TOKENS = 64;

export interface BenchEvalRequest {
  /** Run id, export, or model folder (as `medtune eval` takes it). */
  target: string;
  bench: string;
  /** A local copy of the benchmark's parquet files instead of the Hub download. */
  sourceDir?: string | null;
  /** Evaluate the target's base model alone. */
  base?: boolean;
  /** Evaluate the target and its base model on the same questions, and diff them. */
  withBase?: boolean;
  /** The first N questions of the split. */
  limit?: number;
  batchSize?: number;
  maxNewTokens?: number;
  overrides?: string[];
}

export interface BenchRun {
  dir: string;
  target: EvalReport['target'];
  /** Scores by split (the split the papers report). */
  splits: Partial<Record<BenchSplit, BenchScores>>;
  items: BenchItem[];
  seconds: number;
  files: EvalReport['files'] & { bench: string };
}

export interface BenchEvalResult extends BenchRun {
  bench: { id: BenchId; label: string; repo: string; split: BenchSplit };
  dataset: string;
  limit: number | null;
  /** Where the parquet came from; `revision` is the Hub dataset commit of a download. */
  source: { kind: string; root: string; files: number; revision: string | null; reused: boolean };
  base?: BenchRun;
  diff?: { file: string; questions: number; improved: number; worsened: number; unchanged: number };
  anchors: readonly PublishedAnchor[];
}

function benchRun(report: EvalReport, dir: string, split: BenchSplit): BenchRun {
  const { items, scores } = scoreBench(report.samples.map((s) => ({ question: s.question, reference: s.label, prediction: s.predict })));
  return {
    dir,
    target: report.target,
    splits: { [split]: scores },
    items,
    seconds: report.seconds,
    files: { ...report.files, bench: join(dir, 'bench.json') },
  };
}

export async function benchEval(app: App, req: BenchEvalRequest, onProgress: OnProgress = ignoreProgress): Promise<BenchEvalResult> {
  const { ws } = app;
  const venv = await app.venv();
  const step = (prefix: string) => (phase: string, done: number, total: number | null, message?: string) =>
    onProgress({ phase: `${prefix}${phase}`, done, total, message });
  const doing = `evaluating ${req.target} on benchmark ${req.bench}`;
  const b = requireBenchmark(req.bench, doing);
  if (req.base && req.withBase)
    throw new MedtuneError({
      doing,
      problem: '--base and --with-base ask for different things',
      next: 'pass --base for the base model alone, --with-base for base vs tuned',
      code: 'BAD_OPTION',
    });
  const name = benchEvalDataset(b.id);
  const prep = await prepareBench(
    ws,
    venv,
    { bench: b.id, splits: [b.evalSplit], name, sourceDir: req.sourceDir, entryNames: { [b.evalSplit]: name } },
    (p: DataProgress) => onProgress(p),
  );
  const dataset = prep.entries[b.evalSplit]!;
  const common = {
    dataset,
    limit: req.limit,
    batchSize: req.batchSize,
    maxNewTokens: req.maxNewTokens ?? BENCH_MAX_NEW_TOKENS,
    overrides: req.overrides,
  };

  const main = await evaluate(ws, venv, { ...common, target: req.target, base: req.base }, step(req.withBase ? 'tuned model: ' : ''));
  const run = benchRun(main.report, main.dir, b.evalSplit);
  const result: BenchEvalResult = {
    ...run,
    bench: { id: b.id, label: b.label, repo: b.repo, split: b.evalSplit },
    dataset,
    limit: req.limit ?? null,
    source: {
      kind: prep.source.kind,
      root: prep.source.root,
      files: prep.source.files,
      revision: prep.source.revision ?? null,
      reused: prep.reused,
    },
    anchors: b.anchors,
  };
  if (req.withBase) {
    const baseEval = await evaluate(ws, venv, { ...common, target: req.target, base: true }, step('base model: '));
    const base = benchRun(baseEval.report, baseEval.dir, b.evalSplit);
    await writeJsonAtomic(base.files.bench, { bench: result.bench, dataset, ...base });
    const diff = diffBench(base.items, run.items);
    if ('problem' in diff)
      throw new MedtuneError({
        doing,
        problem: `the two runs cannot be compared: ${diff.problem}`,
        next: `both evals are kept: ${main.dir} and ${baseEval.dir}`,
        code: 'BENCH_MISMATCH',
      });
    const file = join(main.dir, 'bench-diff.jsonl');
    await writeFileAtomic(file, diff.items.map((d) => JSON.stringify(d)).join('\n') + (diff.items.length ? '\n' : ''));
    result.base = base;
    result.diff = { file, questions: diff.questions, improved: diff.improved, worsened: diff.worsened, unchanged: diff.unchanged };
  }
  await writeJsonAtomic(run.files.bench, result);
  return result;
}
