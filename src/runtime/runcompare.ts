/**
 * Gathers what core/runcompare.ts compares from a run folder or any LLaMA-Factory output_dir: its view (curves,
 * status), its config, LLaMA-Factory's result files and the newest benchmark score of each `eval --bench`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { means } from '../core/curve.js';
import type { BenchScore, CompareInput } from '../core/runcompare.js';
import type { RunView } from '../core/run.js';
import { parseConfigYaml, type TrainConfig } from '../core/trainconfig.js';
import { readManifest } from './manifest.js';
import { readRunDir } from './rundir.js';

async function readText(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch(() => null);
}

async function readJsonObject(path: string): Promise<Record<string, unknown> | null> {
  const text = await readText(path);
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * The config a folder was trained with: a medtune run's train.yaml, else LLaMA Board's training_args.yaml in the
 * output_dir, else a train.yaml beside the output_dir (a hand-run `llamafactory-cli train`); null when none.
 */
async function readParams(view: RunView): Promise<TrainConfig | null> {
  const m = await readManifest(view.dir).catch(() => undefined);
  const outputDir = m ? m.outputDir : view.dir;
  const candidates = [
    ...(m ? [m.trainYaml] : []),
    join(outputDir, 'training_args.yaml'),
    join(outputDir, 'train.yaml'),
    join(dirname(outputDir), 'train.yaml'),
  ];
  for (const file of candidates) {
    const text = await readText(file);
    if (text === null) continue;
    try {
      return parseConfigYaml(text, file);
    } catch {
      // not a config: try the next place
    }
  }
  return null;
}

/** The newest benchmark score of each benchmark, from <run>/evals/<time>/bench.json (base-model evals left out). */
async function readBenchScores(dir: string): Promise<BenchScore[]> {
  const evals = join(dir, 'evals');
  const names = (await readdir(evals).catch(() => [] as string[])).filter((n) => !n.endsWith('-base')).sort();
  const byBench = new Map<string, BenchScore>();
  for (const name of names) {
    const b = await readJsonObject(join(evals, name, 'bench.json'));
    const id = (b?.bench as { id?: unknown } | undefined)?.id;
    const splits = b?.splits as
      | Record<string, { questions?: unknown; closed?: { accuracy?: unknown }; open?: { recall?: unknown } }>
      | undefined;
    const scores = splits ? Object.values(splits)[0] : undefined;
    if (typeof id !== 'string' || !scores) continue;
    byBench.set(id, {
      bench: id,
      questions: num(scores.questions) ?? 0,
      closedAccuracy: num(scores.closed?.accuracy),
      openRecall: num(scores.open?.recall),
    });
  }
  return [...byBench.values()];
}

/** One folder's facts for a comparison. */
export async function readCompareInput(dir: string): Promise<CompareInput> {
  const view = await readRunDir(dir);
  const m = await readManifest(view.dir).catch(() => undefined);
  const outputDir = m ? m.outputDir : view.dir;
  const params = await readParams(view);
  const complete = view.recordCount <= view.records.length;
  const pick = (key: 'loss' | 'evalLoss'): Array<[number, number]> =>
    complete
      ? view.records.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key]!])
      : means(view.curve[key] as Parameters<typeof means>[0]);
  const results =
    (await readJsonObject(join(outputDir, 'all_results.json'))) ?? (await readJsonObject(join(outputDir, 'train_results.json')));
  const evalResults = await readJsonObject(join(outputDir, 'eval_results.json'));
  const batch = num(params?.per_device_train_batch_size);
  const accum = num(params?.gradient_accumulation_steps) ?? 1;
  return {
    // A bare output_dir is usually called `output`: its parent names it.
    id: m?.id ?? (basename(view.dir) === 'output' ? join(basename(dirname(view.dir)), 'output') : basename(view.dir)),
    dir: view.dir,
    status: view.status,
    params,
    loss: pick('loss'),
    evalLoss: pick('evalLoss'),
    samplesPerStep: batch === null ? null : batch * accum * (view.scale?.processes ?? 1),
    step: view.step,
    totalSteps: view.totalSteps,
    trainLoss: num(results?.train_loss),
    finalEvalLoss: num(results?.eval_loss) ?? num(evalResults?.eval_loss),
    wallSeconds: num(results?.train_runtime),
    samplesPerSecond: num(results?.train_samples_per_second),
    bench: await readBenchScores(view.dir),
  };
}
