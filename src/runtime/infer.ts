/**
 * Answering with a model: which folders a MODEL argument means (a model folder, an export, a run's adapter on
 * its base), `ask` (one streamed question about one or more images) and `compare` (the same questions to the
 * base and the tuned model, with the proof that the base side is the base model). The model work itself runs
 * in python/medtune_py/infer.py.
 */
import { checkModelWeights } from './weights.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VAL_SUFFIX } from '../core/dataset.js';
import { MedtuneError } from '../core/errors.js';
import {
  parseDatasetRows,
  proofHolds,
  rowModality,
  rowQuestion,
  rowReference,
  sideMetrics,
  type CompareItem,
  type DatasetRow,
  type SampleScores,
  type SideMetrics,
  type WeightProof,
} from '../core/evalreport.js';
import { answerModality, labelModality } from '../core/modality.js';
import { cmd } from '../core/nextstep.js';
import type { Sampling } from '../core/serve.js';
import type { TrainConfig } from '../core/trainconfig.js';
import { writeJsonAtomic } from './atomic.js';
import { readDatasetInfo } from './datasets.js';
import { isAdapterDir, isModelDir } from './files.js';
import { runHelper } from './helpers.js';
import { resolveImages, type ScanOptions } from './scans.js';
import { listRunIds, readManifest, resolveRunDir } from './manifest.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

/** A model named in the TUI's terms (the same shape as its AnswerModel). */
export type ModelSpec = { kind: 'model' | 'export'; name: string } | { kind: 'run'; id: string; checkpoint: number | null };

export interface ModelTarget {
  kind: 'model' | 'export' | 'run';
  /** What the user named. */
  ref: string;
  /** For people: "run X (adapter on tiny-qwen2-vl)". */
  label: string;
  /** model_name_or_path. */
  modelDir: string;
  /** adapter_name_or_path (runs only). */
  adapterDir: string | null;
  /** The base model this was tuned from (itself for a plain model), when known. */
  baseDir: string | null;
  runDir: string | null;
  exportDir: string | null;
  /** The run's train.yaml, when the target comes from a run. */
  train: TrainConfig | null;
}

export type Progress = (phase: string, done: number, total: number | null, message?: string) => void;

async function readYaml(file: string): Promise<TrainConfig | null> {
  try {
    return (parseYaml(await readFile(file, 'utf8'), { version: '1.1' }) as TrainConfig) ?? null;
  } catch {
    return null;
  }
}

/** The run folder an adapter path belongs to: runs/<id>/output or runs/<id>/output/checkpoint-N. */
function runDirOfAdapter(adapter: string): string | null {
  for (const d of [dirname(adapter), dirname(dirname(adapter))]) if (existsSync(join(d, 'run.json'))) return d;
  return null;
}

async function fromRun(ws: Workspace, ref: string, checkpoint: number | null): Promise<ModelTarget> {
  const runDir = await resolveRunDir(ws, ref);
  const m = await readManifest(runDir);
  if (!m)
    throw new MedtuneError({ doing: `opening run ${ref}`, problem: 'run.json is missing', next: ['check ', cmd('runs')], code: 'NO_RUN' });
  const adapterDir = checkpoint !== null ? join(m.outputDir, `checkpoint-${checkpoint}`) : m.outputDir;
  if (!isAdapterDir(adapterDir)) {
    throw new MedtuneError({
      doing: `opening run ${m.id}`,
      problem: `${adapterDir} holds no LoRA adapter${m.status !== 'completed' ? ` (the run is ${m.status})` : ''}`,
      next:
        m.status === 'completed'
          ? 'pass --checkpoint N for one of its checkpoints'
          : ['wait for it (', cmd('attach', m.id), ') or use one of its checkpoints'],
      code: 'NO_ADAPTER',
    });
  }
  return {
    kind: 'run',
    ref,
    label: `run ${m.id}${checkpoint !== null ? ` checkpoint-${checkpoint}` : ''} (LoRA adapter on ${basename(m.model)})`,
    modelDir: m.model,
    adapterDir,
    baseDir: m.model,
    runDir,
    exportDir: null,
    train: await readYaml(m.trainYaml),
  };
}

async function fromExport(dir: string, ref: string): Promise<ModelTarget> {
  await checkModelWeights(dir, {
    doing: `loading export ${basename(dir)}`,
    fix: `export the run again under a new name (\`medtune export RUN --name NEW\`), or copy the missing files back from where the export was made`,
  });
  const spec = await readYaml(join(dir, 'export.yaml'));
  const base = typeof spec?.model_name_or_path === 'string' ? spec.model_name_or_path : null;
  const adapter = typeof spec?.adapter_name_or_path === 'string' ? spec.adapter_name_or_path : null;
  const runDir = adapter ? runDirOfAdapter(adapter) : null;
  return {
    kind: 'export',
    ref,
    label: `export ${basename(dir)}${base ? ` (merged from ${basename(base)})` : ''}`,
    modelDir: dir,
    adapterDir: null,
    baseDir: base,
    runDir,
    exportDir: dir,
    train: runDir ? await readYaml(join(runDir, 'train.yaml')) : null,
  };
}

/**
 * What a MODEL argument names, tried in this order: `run:ID`, `export:NAME` or `model:NAME`; a folder path (a
 * model, or a run's adapter folder); a model under models/; an exact run id; an export under exports/; a run id
 * prefix or `latest`.
 */
export async function resolveModel(ws: Workspace, ref: string | ModelSpec, opts: { checkpoint?: number } = {}): Promise<ModelTarget> {
  if (typeof ref !== 'string') {
    if (ref.kind === 'run') return fromRun(ws, ref.id, ref.checkpoint);
    const dir = join(ref.kind === 'export' ? ws.exportsDir : ws.modelsDir, ref.name);
    if (!isModelDir(dir))
      throw new MedtuneError({
        doing: `opening ${ref.kind} ${ref.name}`,
        problem: `${dir} holds no model (no config.json)`,
        next: ref.kind === 'export' ? ['list exports with ', cmd('runs')] : ['list models with ', cmd('model', 'list')],
        code: 'NO_MODEL',
      });
    return ref.kind === 'export'
      ? fromExport(dir, ref.name)
      : {
          kind: 'model',
          ref: ref.name,
          label: `model ${ref.name}`,
          modelDir: dir,
          adapterDir: null,
          baseDir: dir,
          runDir: null,
          exportDir: null,
          train: null,
        };
  }
  if (opts.checkpoint !== undefined) return fromRun(ws, ref, opts.checkpoint);
  const typed = /^(run|export|model):(.+)$/.exec(ref);
  if (typed) {
    const name = typed[2]!;
    return resolveModel(
      ws,
      typed[1] === 'run' ? { kind: 'run', id: name, checkpoint: null } : { kind: typed[1] === 'export' ? 'export' : 'model', name },
    );
  }
  const path = isAbsolute(ref) ? ref : resolve(ref);
  if (existsSync(path) && (ref.includes('/') || ref.startsWith('.'))) {
    if (isModelDir(path)) {
      // An export is known by its export.yaml wherever it lies (moved, copied, reached through a symlink), so
      // its run's held-out split and train settings are found too.
      if (dirname(path) === ws.exportsDir || existsSync(join(path, 'export.yaml'))) return fromExport(path, ref);
      return {
        kind: 'model',
        ref,
        label: `model ${basename(path)}`,
        modelDir: path,
        adapterDir: null,
        baseDir: path,
        runDir: null,
        exportDir: null,
        train: null,
      };
    }
    const runDir = isAdapterDir(path) ? runDirOfAdapter(path) : null;
    if (runDir) {
      const ckpt = /^checkpoint-(\d+)$/.exec(basename(path));
      return fromRun(ws, runDir, ckpt ? Number(ckpt[1]) : null);
    }
  }
  if (isModelDir(join(ws.modelsDir, ref))) {
    const dir = join(ws.modelsDir, ref);
    return {
      kind: 'model',
      ref,
      label: `model ${ref}`,
      modelDir: dir,
      adapterDir: null,
      baseDir: dir,
      runDir: null,
      exportDir: null,
      train: null,
    };
  }
  // `medtune export` names an export after its run: the exact run id wins, so results land next to the run and
  // the adapter that was trained is what answers (`export:NAME` picks the export).
  if (existsSync(join(ws.runsDir, ref, 'run.json'))) return fromRun(ws, ref, null);
  if (isModelDir(join(ws.exportsDir, ref))) return fromExport(join(ws.exportsDir, ref), ref);
  try {
    return await fromRun(ws, ref, null);
  } catch (err) {
    if (err instanceof MedtuneError && (err.code === 'NO_RUN' || err.code === 'AMBIGUOUS_RUN')) {
      const runs = await listRunIds(ws);
      throw new MedtuneError({
        doing: `finding model "${ref}"`,
        problem:
          err.code === 'AMBIGUOUS_RUN'
            ? err.problem
            : `"${ref}" is not a model folder, an export in ${ws.exportsDir}, a model in ${ws.modelsDir} or a run`,
        next: `pass a path to a model folder, an export name, a model name or a run id${runs.length ? ` (latest run: ${runs[runs.length - 1]})` : ''}`,
        code: 'NO_MODEL',
      });
    }
    throw err;
  }
}

/** The image sizes the model was trained with (LLaMA-Factory's defaults when unknown). */
export function imagePixels(t: ModelTarget): { max: number; min: number } {
  const n = (v: unknown, d: number) => (typeof v === 'number' && v > 0 ? v : d);
  return { max: n(t.train?.image_max_pixels, 768 * 768), min: n(t.train?.image_min_pixels, 32 * 32) };
}

export function summary(t: ModelTarget): { kind: string; ref: string; label: string; model: string; adapter: string | null } {
  return { kind: t.kind, ref: t.ref, label: t.label, model: t.modelDir, adapter: t.adapterDir };
}

function checkImages(images: string[], doing: string): string[] {
  const out = images.map((i) => resolve(i));
  const missing = out.filter((i) => !existsSync(i));
  if (missing.length)
    throw new MedtuneError({
      doing,
      problem: `no such image: ${missing.join(', ')}`,
      next: 'pass existing images (PNG, JPEG), DICOM files or folders, or NIfTI volumes',
      code: 'NO_IMAGE',
    });
  return out;
}

const relay =
  (p: Progress | undefined) => (e: { event: string; phase?: string; done?: number; total?: number | null; message?: string }) => {
    if (e.event === 'progress' && e.phase) p?.(e.phase, e.done ?? 0, e.total ?? null, e.message);
  };

// ---------------------------------------------------------------------------------------------------------
// ask

export interface AskRequest {
  model: string | ModelSpec | ModelTarget;
  /** None: a question about text alone. */
  images: string[];
  question: string;
  maxNewTokens: number;
  sampling: Sampling;
  /** How scans among the images are turned into what the model sees. */
  scan?: ScanOptions;
  /**
   * `auto` (default): a ready `medtune serve` of this workspace for the same model answers, else the model is
   * loaded; `never`: always load it; or an explicit server (then MODEL only labels the answer).
   */
  server?: 'auto' | 'never' | { url: string; apiKey?: string };
  onToken?: (text: string) => void;
  onProgress?: Progress;
  signal?: AbortSignal;
}

export interface AskResult {
  answer: string;
  tokens: number;
  promptTokens: number;
  seconds: number;
  firstTokenSeconds: number | null;
  /** The answer stopped at maxNewTokens, not at its end (unknown from a server: false). */
  cut: boolean;
  device: string;
  question: string;
  images: string[];
  /** How each scan was converted (or which members of a folder were refused). */
  notes: string[];
  model: ReturnType<typeof summary>;
}

const isTarget = (m: AskRequest['model']): m is ModelTarget => typeof m === 'object' && 'modelDir' in m;

export async function ask(ws: Workspace, venv: Venv, req: AskRequest): Promise<AskResult> {
  const doing = 'asking the model';
  if (!req.question.trim())
    throw new MedtuneError({
      doing,
      problem: 'the question is empty',
      next: ['write the question after the model: ', cmd('ask', 'MODEL', '--image', 'a.png', 'What is shown?')],
      code: 'NO_QUESTION',
    });
  checkImages(req.images, doing);
  const { images, notes } = req.images.length
    ? await resolveImages(ws, venv, req.images, req.scan, doing)
    : { images: [] as string[], notes: [] as string[] };
  const mode = req.server ?? 'auto';
  // An explicit server may serve a model this workspace does not hold: MODEL then only names it.
  const target = typeof mode === 'object' ? null : isTarget(req.model) ? req.model : await resolveModel(ws, req.model);
  if (mode !== 'never') {
    // Imported here: serve.ts builds on this module's model resolution.
    const { askServer, findServerFor } = await import('./serve.js');
    const live =
      target === null
        ? { url: (mode as { url: string }).url.replace(/\/+$/, ''), apiKey: (mode as { apiKey?: string }).apiKey }
        : await findServerFor(ws, target).then((s) => (s && !s.keyRequired ? { url: s.url, apiKey: undefined } : null));
    if (live) {
      req.onProgress?.('generate', 0, req.maxNewTokens, `asking the server at ${live.url}`);
      const r = await askServer({
        url: live.url,
        apiKey: live.apiKey,
        images,
        question: req.question,
        maxNewTokens: req.maxNewTokens,
        sampling: req.sampling,
        onToken: req.onToken,
        signal: req.signal,
      });
      const ref =
        typeof req.model === 'string'
          ? req.model
          : isTarget(req.model)
            ? req.model.ref
            : 'name' in req.model
              ? req.model.name
              : req.model.id;
      const model = target ? summary(target) : { kind: 'server', ref, label: `${ref} at ${live.url}`, model: live.url, adapter: null };
      return {
        answer: r.answer,
        tokens: 0,
        promptTokens: 0,
        seconds: Math.round(r.seconds * 1000) / 1000,
        firstTokenSeconds: r.firstTokenSeconds,
        cut: r.cut,
        device: `server ${live.url}`,
        question: req.question,
        images,
        notes,
        model,
      };
    }
  }
  if (target === null) throw new MedtuneError({ doing, problem: 'no server to ask', code: 'NO_SERVER' });
  const px = imagePixels(target);
  const args = [
    'ask',
    '--model',
    target.modelDir,
    '--question',
    req.question,
    '--max-new-tokens',
    String(req.maxNewTokens),
    '--temperature',
    String(req.sampling.temperature),
    '--top-p',
    String(req.sampling.topP),
    '--image-max-pixels',
    String(px.max),
    '--image-min-pixels',
    String(px.min),
    ...images.flatMap((i) => ['--image', i]),
  ];
  if (target.adapterDir) args.push('--adapter', target.adapterDir);
  const r = await runHelper('infer', args, {
    venv,
    doing: `asking ${target.label}`,
    signal: req.signal,
    env: { HF_HUB_OFFLINE: '1' },
    onEvent: (e) => {
      if (e.event === 'token') req.onToken?.(e.text);
      else relay(req.onProgress)(e);
    },
  });
  return {
    answer: String(r.answer ?? ''),
    tokens: Number(r.tokens ?? 0),
    promptTokens: Number(r.prompt_tokens ?? 0),
    seconds: Number(r.seconds ?? 0),
    firstTokenSeconds: typeof r.first_token_seconds === 'number' ? r.first_token_seconds : null,
    cut: r.cut === true,
    device: String(r.device ?? ''),
    question: req.question,
    images,
    notes,
    model: summary(target),
  };
}

// ---------------------------------------------------------------------------------------------------------
// compare

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

/** The default held-out entry of a target: its run's first dataset + `_val`, when registered. */
export async function defaultEvalDataset(ws: Workspace, t: ModelTarget): Promise<string | null> {
  const m = t.runDir ? await readManifest(t.runDir) : undefined;
  const first = m?.datasets[0];
  if (!first) return null;
  const info = await readDatasetInfo(ws);
  return info[`${first}${VAL_SUFFIX}`] ? `${first}${VAL_SUFFIX}` : info[first] ? first : null;
}

/** The rows of a registered dataset entry, with image paths made absolute. */
export async function readDatasetRows(ws: Workspace, entry: string): Promise<DatasetRow[]> {
  const info = await readDatasetInfo(ws);
  const file = info[entry]?.file_name;
  if (!file) {
    throw new MedtuneError({
      doing: `reading dataset ${entry}`,
      problem: `${entry} is not a file dataset registered in ${ws.datasetInfo}`,
      next: [`registered: ${Object.keys(info).join(', ') || 'none'}; see `, cmd('data', 'list')],
      code: 'DATASET_UNDEFINED',
    });
  }
  const rows = parseDatasetRows(await readFile(join(ws.dataDir, file), 'utf8'));
  return rows.map((r) => ({ ...r, images: (r.images ?? []).map((i) => (isAbsolute(i) ? i : join(ws.dataDir, i))) }));
}

interface HelperCompareItem {
  base: { answer: string; cut?: boolean };
  tuned: { answer: string; cut?: boolean };
  baseScores: SampleScores | null;
  tunedScores: SampleScores | null;
}

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
  const createdAt = new Date().toISOString();
  const file = join(
    ownerDir(ws, tuned),
    'compares',
    `${createdAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-${process.pid}.json`,
  );
  const specFile = file.replace(/\.json$/, '.spec.json');
  await writeJsonAtomic(specFile, spec);
  const r = await runHelper('infer', ['compare', '--spec', specFile], {
    venv,
    doing,
    signal,
    env: { HF_HUB_OFFLINE: '1' },
    onEvent: relay(onProgress),
  });
  const proof = r.proof as WeightProof;
  const held = proofHolds(proof);
  if (!held.ok)
    throw new MedtuneError({
      doing,
      problem: held.problem!,
      next: 'check that the run trained and that --base is the model it was trained from',
      code: 'BASE_EQUALS_TUNED',
    });
  const answers = r.items as HelperCompareItem[];
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
