/** Evaluating and asking: held-out generation with metrics, side-by-side comparison, one question. */
import { VAL_SUFFIX } from '../core/dataset.js';
import { evaluate, learningCheck, type EvalRequest, type EvalResult, type LearningCheck } from '../runtime/evaluate.js';
import { listDatasets } from '../runtime/datasets.js';
import { compareModels, type CompareReport, type CompareRequest } from '../runtime/compare.js';
import type { App } from './context.js';
import { ignoreProgress, type OnProgress } from './events.js';

const relay = (onProgress: OnProgress) => (phase: string, done: number, total: number | null, message?: string) =>
  onProgress({ phase, done, total, message });

/**
 * Generation on a held-out split. Without a dataset, the target's own held-out split is used: a run's, or for
 * an export the `_val` split of the run it was merged from.
 */
export async function evaluateTarget(
  app: App,
  req: EvalRequest,
  onProgress: OnProgress = ignoreProgress,
  signal?: AbortSignal,
): Promise<EvalResult> {
  return evaluate(app.ws, await app.venv(), req, relay(onProgress), signal);
}

/** The demo's learning check: the tuned model and its base, on the run's held-out images. */
export async function checkLearning(
  app: App,
  opts: { run: string; export?: string },
  onProgress: OnProgress = ignoreProgress,
): Promise<LearningCheck> {
  return learningCheck(app.ws, await app.venv(), opts, relay(onProgress));
}

/** The held-out entry of a dataset when `data prepare` registered one: rows the tuned model has not seen. */
export async function heldOutEntry(app: App, dataset: string): Promise<string> {
  const val = dataset.endsWith(VAL_SUFFIX) ? dataset : `${dataset}${VAL_SUFFIX}`;
  return (await listDatasets(app.ws)).some((l) => l.entry === val) ? val : dataset;
}

/** `heldOut`: take the dataset's `_val` entry when it has one (a picker that lists datasets by their train name). */
export async function compare(
  app: App,
  req: CompareRequest & { heldOut?: boolean },
  onProgress: OnProgress = ignoreProgress,
  signal?: AbortSignal,
): Promise<CompareReport> {
  const dataset = req.dataset !== undefined && req.heldOut ? await heldOutEntry(app, req.dataset) : req.dataset;
  return compareModels(app.ws, await app.venv(), { ...req, dataset }, relay(onProgress), signal);
}
