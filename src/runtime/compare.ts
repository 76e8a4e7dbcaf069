/**
 * `compare`: the same questions to the base and the tuned model (python/medtune_py/infer.py), with the proof that
 * the base side is the base model, each answer scored against its reference.
 */
import { join } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { compactTimestamp } from '../core/format.js';
import {
  CompareHelperResult,
  proofHolds,
  rowModality,
  rowQuestion,
  rowReference,
  sideMetrics,
  type CompareItem,
  type SideMetrics,
  type WeightProof,
} from '../core/evalreport.js';
import { answerModality, labelModality } from '../core/modality.js';
import { writeJsonAtomic } from './atomic.js';
import { resolveImages, type ScanOptions } from './scans.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';
import { relayProgress, runHelper, type Progress } from './pythonhelper.js';
import { checkImages, defaultEvalDataset, imagePixels, resolveModel, summary, type ModelSpec, type ModelTarget } from './modelref.js';
import { readDatasetRows } from './datasets.js';

export interface CompareRequest {
  /** Default: the base model the tuned one was trained from. */
  base?: string | ModelSpec;
  tuned: string | ModelSpec;
  /** Ask about these images (one question each) instead of dataset rows. */
  images?: string[];
  /** The question for every item; default: each row's own question (or "Describe this medical image."). */
  prompt?: string;
  /** Dataset entry to take questions and references from; default: the tuned run's dataset + `_val`. */
  dataset?: string;
  /** Row indices in the dataset; default: the first `limit`. */
  samples?: number[];
  limit?: number;
  maxNewTokens?: number;
  /** How scans among --images are turned into what the model sees. */
  scan?: ScanOptions;
}

export interface CompareReport {
  createdAt: string;
  base: ReturnType<typeof summary>;
  tuned: ReturnType<typeof summary>;
  dataset: string | null;
  items: CompareItem[];
  metrics: { base: SideMetrics; tuned: SideMetrics };
  proof: WeightProof;
  device: string;
  seconds: number;
  file: string;
}

export const DEFAULT_PROMPT = 'Describe this medical image.';

function ownerDir(ws: Workspace, t: ModelTarget): string {
  return t.exportDir ?? t.runDir ?? ws.root;
}

export async function compareModels(
  ws: Workspace,
  venv: Venv,
  req: CompareRequest,
  onProgress?: Progress,
  signal?: AbortSignal,
): Promise<CompareReport> {
  const started = Date.now();
  const tuned = await resolveModel(ws, req.tuned);
  const doing = `comparing ${tuned.label} with its base`;
  let base: ModelTarget;
  if (req.base !== undefined) {
    base = await resolveModel(ws, req.base);
    if (base.kind === 'run') {
      throw new MedtuneError({
        doing,
        problem: `--base ${base.ref} is a run (an adapter), not a model`,
        next: 'pass the base model (a folder, a name under models/) or a merged export as --base',
        code: 'BASE_NOT_A_MODEL',
      });
    }
  } else {
    if (!tuned.baseDir)
      throw new MedtuneError({ doing, problem: `the base model of ${tuned.label} is unknown`, next: 'pass --base MODEL', code: 'NO_BASE' });
    base = await resolveModel(ws, tuned.baseDir);
  }

  let dataset: string | null = null;
  let sources: { question: string; images: string[]; reference: string | null; expected: string | null }[];
  if (req.images?.length) {
    checkImages(req.images, doing);
    const { groups } = await resolveImages(ws, venv, req.images, req.scan, doing);
    sources = groups.map((images) => ({ question: req.prompt ?? DEFAULT_PROMPT, images, reference: null, expected: null }));
  } else {
    dataset = req.dataset ?? (await defaultEvalDataset(ws, tuned));
    if (!dataset)
      throw new MedtuneError({
        doing,
        problem: 'no questions: neither --images nor --dataset, and the tuned model has no run dataset',
        next: 'pass --images a.png b.png or --dataset NAME',
        code: 'NO_QUESTIONS',
      });
    const rows = await readDatasetRows(ws, dataset);
    const picked = req.samples ?? [...rows.keys()].slice(0, req.limit ?? 4);
    const bad = picked.filter((i) => !rows[i]);
    if (bad.length)
      throw new MedtuneError({
        doing,
        problem: `dataset ${dataset} has ${rows.length} rows; no row ${bad.join(', ')}`,
        next: `pick rows 0…${rows.length - 1}`,
        code: 'BAD_SAMPLE',
      });
    sources = picked.map((i) => {
      const row = rows[i]!;
      return {
        question: req.prompt ?? (rowQuestion(row) || DEFAULT_PROMPT),
        images: row.images ?? [],
        reference: rowReference(row),
        expected: rowModality(row),
      };
    });
  }

  const px = imagePixels(tuned);
  const spec = {
    base: { model: base.modelDir },
    tuned: { model: tuned.modelDir, adapter: tuned.adapterDir },
    adapter_hint: tuned.kind === 'export' && tuned.runDir ? join(tuned.runDir, 'output') : null,
    items: sources.map((s) => ({ images: s.images, question: s.question, reference: s.reference })),
    max_new_tokens: req.maxNewTokens ?? 128,
    image_max_pixels: px.max,
    image_min_pixels: px.min,
  };
  const now = new Date();
  const createdAt = now.toISOString();
  const file = join(ownerDir(ws, tuned), 'compares', `${compactTimestamp(now)}-${process.pid}.json`);
  const specFile = file.replace(/\.json$/, '.spec.json');
  await writeJsonAtomic(specFile, spec);
  const r = await runHelper('infer', ['compare', '--spec', specFile], CompareHelperResult, {
    venv,
    doing,
    signal,
    env: { HF_HUB_OFFLINE: '1' },
    onEvent: relayProgress(onProgress),
  });
  const { proof } = r;
  const held = proofHolds(proof);
  if (!held.ok)
    throw new MedtuneError({
      doing,
      problem: held.problem!,
      next: 'check that the run trained and that --base is the model it was trained from',
      code: 'BASE_EQUALS_TUNED',
    });
  const answers = r.items;
  const items: CompareItem[] = sources.map((s, i) => {
    const a = answers[i]!;
    const expected = s.expected ?? (s.reference !== null ? labelModality(s.reference) : null);
    return {
      question: s.question,
      images: s.images,
      reference: s.reference,
      base: a.base.answer,
      tuned: a.tuned.answer,
      expectedModality: expected,
      baseModality: answerModality(a.base.answer),
      tunedModality: answerModality(a.tuned.answer),
      baseScores: a.baseScores,
      tunedScores: a.tunedScores,
      baseCut: a.base.cut === true,
      tunedCut: a.tuned.cut === true,
    };
  });
  const report: CompareReport = {
    createdAt,
    base: summary(base),
    tuned: summary(tuned),
    dataset,
    items,
    metrics: { base: sideMetrics(items, 'base'), tuned: sideMetrics(items, 'tuned') },
    proof,
    device: String(r.device ?? ''),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    file,
  };
  await writeJsonAtomic(file, report);
  return report;
}
