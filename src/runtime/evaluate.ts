/**
 * `medtune eval`: generation on a held-out split through LLaMA-Factory's own predict path
 * (`llamafactory-cli train` with do_predict + predict_with_generate), then medtune's modality accuracy and
 * per-sample scores on top. Everything lands in <run|export>/evals/<time>[-base]/: the YAML, the logs,
 * LLaMA-Factory's predict_results.json and generated_predictions.jsonl, and eval.json (written last, atomically).
 */
import { existsSync } from 'node:fs';
import { llamafactoryCommand, runLlamafactory } from './llamafactory.js';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { cmd } from '../core/nextstep.js';
import {
  buildEvalSamples,
  buildPredictConfig,
  evalMetrics,
  labelSetOf,
  parsePredictions,
  parsePredictResults,
  type EvalMetrics,
  type EvalSample,
  MetricsHelperResult,
} from '../core/evalreport.js';
import { parseConsole } from '../core/trainerconsole.js';
import { templateOf } from '../core/families.js';
import { compactTimestamp } from '../core/format.js';
import { commandLine, parseOverride, toYaml } from '../core/trainconfig.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic.js';
import { readDatasetInfo } from './datasetinfo.js';
import { tailLines } from './files.js';
import { runHelper } from './pythonhelper.js';
import { readDatasetRows } from './datasets.js';
import type { Progress } from './pythonhelper.js';
import { defaultEvalDataset, resolveModel, summary, type ModelSpec, type ModelTarget } from './modelref.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface EvalRequest {
  /** A run (its adapter on its base) or an export; a plain model works too. */
  target: string | ModelSpec;
  /** Evaluate the target's base model alone, with the same settings. */
  base?: boolean;
  /** Dataset entry; default: the run's dataset + `_val`. */
  dataset?: string;
  /** The first N rows only (LLaMA-Factory's max_samples). */
  limit?: number;
  batchSize?: number;
  maxNewTokens?: number;
  /** Extra LLaMA-Factory keys, `key=value`. */
  overrides?: string[];
}

export interface EvalReport {
  version: 1;
  createdAt: string;
  target: ReturnType<typeof summary> & { base: boolean };
  dataset: string;
  limit: number | null;
  seconds: number;
  metrics: EvalMetrics;
  samples: EvalSample[];
  files: { yaml: string; predictions: string; results: string; stdout: string; stderr: string };
  command: string;
}

export interface EvalResult {
  dir: string;
  report: EvalReport;
}

/** The settings the target was trained with, so the eval sees images and prompts as training did. */
function trainSettings(t: ModelTarget): { template: string; cutoffLen: number; imageMaxPixels?: number; imageMinPixels?: number } {
  const c = t.train ?? {};
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return {
    template: templateOf(c),
    cutoffLen: num(c.cutoff_len) ?? 2048,
    imageMaxPixels: num(c.image_max_pixels),
    imageMinPixels: num(c.image_min_pixels),
  };
}

/** Reads the live state of a predict run: trainer_log.jsonl's progress records, else the console's phase. */
async function predictProgress(dir: string): Promise<{ phase: string; done: number; total: number | null } | null> {
  const log = await readFile(join(dir, 'trainer_log.jsonl'), 'utf8').catch(() => '');
  const last = log
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.includes('total_steps'));
  if (last) {
    try {
      const r = JSON.parse(last) as { current_steps: number; total_steps: number };
      return { phase: 'generating', done: r.current_steps, total: r.total_steps };
    } catch {
      // torn line: fall through to the console
    }
  }
  const [out, err] = await Promise.all([
    readFile(join(dir, 'stdout.log'), 'utf8').catch(() => ''),
    readFile(join(dir, 'stderr.log'), 'utf8').catch(() => ''),
  ]);
  const phase = parseConsole(out, err).phase;
  if (!phase) return null;
  return {
    phase: phase.name === 'working' || phase.name === 'evaluating' ? 'generating' : phase.name,
    done: phase.done,
    total: phase.total,
  };
}

export async function evaluate(
  ws: Workspace,
  venv: Venv,
  req: EvalRequest,
  onProgress: Progress = () => {},
  signal?: AbortSignal,
): Promise<EvalResult> {
  const started = Date.now();
  const resolved = await resolveModel(ws, req.target);
  const doing = `evaluating ${req.base ? `the base model of ${resolved.label}` : resolved.label}`;
  if (req.base && !resolved.baseDir)
    throw new MedtuneError({
      doing,
      problem: 'its base model is unknown (no export.yaml / run.json)',
      next: 'evaluate the base model folder directly: `medtune eval models/NAME`',
      code: 'NO_BASE',
    });
  const modelDir = req.base ? resolved.baseDir! : resolved.modelDir;
  const adapter = req.base ? null : resolved.adapterDir;

  const dataset = req.dataset ?? (await defaultEvalDataset(ws, resolved));
  if (!dataset)
    throw new MedtuneError({
      doing,
      problem: 'no held-out dataset: the target has no run dataset with a _val split',
      next: ['pass --dataset NAME (see ', cmd('data', 'list'), ')'],
      code: 'NO_DATASET',
    });
  const info = await readDatasetInfo(ws);
  if (!info[dataset])
    throw new MedtuneError({
      doing,
      problem: `dataset ${dataset} is not registered in ${ws.datasetInfo}`,
      next: `registered: ${Object.keys(info).join(', ') || 'none'}`,
      code: 'DATASET_UNDEFINED',
    });

  const createdAt = new Date();
  // A plain model's folder is left alone: its evals go to <workspace>/evals/<model>/.
  const owner = resolved.exportDir ?? resolved.runDir;
  const evalsDir = owner ? join(owner, 'evals') : join(ws.root, 'evals', basename(resolved.modelDir));
  const name = `${compactTimestamp(createdAt)}${req.base ? '-base' : ''}`;
  let dir = join(evalsDir, name);
  for (let i = 2; existsSync(dir); i++) dir = join(evalsDir, `${name}-${i}`);
  await mkdir(dir, { recursive: true });

  const s = trainSettings(resolved);
  const config = buildPredictConfig({
    model: modelDir,
    adapter,
    template: s.template,
    dataset,
    datasetDir: ws.dataDir,
    outputDir: dir,
    cutoffLen: s.cutoffLen,
    imageMaxPixels: s.imageMaxPixels,
    imageMinPixels: s.imageMinPixels,
    limit: req.limit,
    batchSize: req.batchSize ?? 4,
    maxNewTokens: req.maxNewTokens ?? 256,
  });
  for (const o of req.overrides ?? []) {
    const [k, v] = parseOverride(o);
    config[k] = v;
  }
  const files = {
    yaml: join(dir, 'eval.yaml'),
    predictions: join(dir, 'generated_predictions.jsonl'),
    results: join(dir, 'predict_results.json'),
    stdout: join(dir, 'stdout.log'),
    stderr: join(dir, 'stderr.log'),
  };
  const { command, env } = llamafactoryCommand(venv, 'train', files.yaml);
  const line = commandLine(command, env);
  await writeFileAtomic(files.yaml, toYaml(config, `written by medtune: ${doing} on ${dataset}\n  ${line}`));

  onProgress('starting', 0, null, 'llamafactory-cli (imports take a few seconds)');
  const { exitCode: code } = await runLlamafactory(venv, {
    verb: 'train',
    yaml: files.yaml,
    cwd: ws.root,
    stdout: files.stdout,
    stderr: files.stderr,
    signal,
    onPoll: () => void predictProgress(dir).then((p) => p && onProgress(p.phase, p.done, p.total)),
  });
  if (signal?.aborted) throw new MedtuneError({ doing, problem: 'cancelled', next: `partial logs in ${dir}`, code: 'CANCELLED' });
  if (code !== 0 || !existsSync(files.predictions) || !existsSync(files.results)) {
    throw new MedtuneError({
      doing,
      problem: code !== 0 ? `llamafactory-cli exited with code ${code}` : 'llamafactory-cli wrote no predictions',
      details: await tailLines(files.stderr, 12),
      next: `full logs: ${files.stderr}; the exact config: ${files.yaml}`,
      code: 'EVAL_FAILED',
    });
  }

  onProgress('scoring', 0, null, 'per-sample BLEU-4 / ROUGE and modality');
  const preds = parsePredictions(await readFile(files.predictions, 'utf8'));
  const results = parsePredictResults(JSON.parse(await readFile(files.results, 'utf8')) as Record<string, unknown>);
  const scored = await runHelper('metrics', ['--pairs', files.predictions], MetricsHelperResult, {
    venv,
    doing: `${doing}: scoring each sample`,
    signal,
    stderrFile: join(dir, 'metrics.log'),
  });
  const rows = await readDatasetRows(ws, dataset);
  const samples = buildEvalSamples(preds, rows, scored.samples ?? []);
  const report: EvalReport = {
    version: 1,
    createdAt: createdAt.toISOString(),
    target: { ...summary(resolved), model: modelDir, adapter, base: !!req.base },
    dataset,
    limit: req.limit ?? null,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    metrics: evalMetrics(results, samples, labelSetOf(rows)),
    samples,
    files,
    command: line,
  };
  await writeJsonAtomic(join(dir, 'eval.json'), report);
  return { dir, report };
}

// ---------------------------------------------------------------------------------------------------------
// The demo's learning check

/** The learning check's verdict: what the demo reports. */
export interface LearningVerdict {
  /** Share of held-out images whose modality the tuned model names correctly, 0..1. */
  tunedAccuracy: number | null;
  baseAccuracy: number | null;
  /** Uniform guessing among the modalities present. */
  chance: number | null;
  samples: number;
  /** Optimizer steps the run took (trainer_state.json's global_step). */
  steps: number | null;
  target: number;
  passed: boolean;
}

export interface LearningCheck extends LearningVerdict {
  tuned: { dir: string; metrics: EvalMetrics };
  base: { dir: string; metrics: EvalMetrics };
}

export function learningVerdict(c: LearningCheck): LearningVerdict {
  const { tunedAccuracy, baseAccuracy, chance, samples, steps, target, passed } = c;
  return { tunedAccuracy, baseAccuracy, chance, samples, steps, target, passed };
}

/** The accuracy the demo's tiny model must reach on held-out images: far above the base's chance level. */
export const LEARNING_TARGET = 0.8;

/** Evaluates the tuned model (the export when given, else the run's adapter) and its base on the held-out split. */
export async function learningCheck(
  ws: Workspace,
  venv: Venv,
  opts: { run: string; export?: string; dataset?: string },
  onProgress: Progress = () => {},
): Promise<LearningCheck> {
  const target = opts.export ? `export:${opts.export}` : opts.run;
  const tuned = await evaluate(ws, venv, { target, dataset: opts.dataset, maxNewTokens: 32 }, (p, d, t, m) =>
    onProgress(`tuned model: ${p}`, d, t, m),
  );
  const base = await evaluate(ws, venv, { target, base: true, dataset: tuned.report.dataset, maxNewTokens: 32 }, (p, d, t, m) =>
    onProgress(`base model: ${p}`, d, t, m),
  );
  const run = await resolveModel(ws, opts.run);
  const state = run.runDir
    ? await readFile(join(run.runDir, 'output', 'trainer_state.json'), 'utf8')
        .then((t) => JSON.parse(t) as { global_step?: number })
        .catch(() => null)
    : null;
  const acc = tuned.report.metrics.modalityAccuracy;
  return {
    tunedAccuracy: acc,
    baseAccuracy: base.report.metrics.modalityAccuracy,
    chance: tuned.report.metrics.chance,
    samples: tuned.report.metrics.modalityScored,
    steps: state?.global_step ?? null,
    target: LEARNING_TARGET,
    passed: acc !== null && acc >= LEARNING_TARGET,
    tuned: { dir: tuned.dir, metrics: tuned.report.metrics },
    base: { dir: base.dir, metrics: base.report.metrics },
  };
}
