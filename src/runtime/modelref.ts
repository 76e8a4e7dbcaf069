/**
 * Which folders a MODEL argument means: a model folder, an export, or a run's adapter (a checkpoint of it) on
 * its base; and the held-out dataset entry that goes with it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { VAL_SUFFIX } from '../core/dataset.js';
import { MedtuneError } from '../core/errors.js';
import { cmd } from '../core/nextstep.js';
import type { TrainConfig } from '../core/trainconfig.js';
import { readDatasetInfo } from './datasetinfo.js';
import { isAdapterDir, isModelDir } from './files.js';
import { listRunIds, readManifest, resolveRunDir } from './manifest.js';
import { checkModelWeights } from './weights.js';
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

/** The default held-out entry of a target: its run's first dataset + `_val`, when registered. */
export async function defaultEvalDataset(ws: Workspace, t: ModelTarget): Promise<string | null> {
  const m = t.runDir ? await readManifest(t.runDir) : undefined;
  const first = m?.datasets[0];
  if (!first) return null;
  const info = await readDatasetInfo(ws);
  return info[`${first}${VAL_SUFFIX}`] ? `${first}${VAL_SUFFIX}` : info[first] ? first : null;
}

export function checkImages(images: string[], doing: string): string[] {
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
