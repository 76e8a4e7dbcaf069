/**
 * Planning a run: the facts only this machine and workspace can tell (profiles, the train template, GPUs, the
 * model's folder and config, row counts, free disk, busy GPUs, the tokenized cache), handed to core/runplan.ts
 * which decides; then the pre-flight that needs Python (LLaMA-Factory's own parser). Writes no run folder.
 */
import { planTrackers } from '../core/trackers.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import { ResultEvent } from '../core/protocol.js';
import { compactTimestamp } from '../core/format.js';
import { textConfigOf } from '../core/estimate.js';
import { trainOptions } from '../core/options.js';
import { blockingError, blockingFindings, planRunConfig, planRunFromFacts, type RunPlan, type TrainRequest } from '../core/runplan.js';
import { parseConfigYaml, Profiles, toYaml, type Profile, type TrainConfig } from '../core/trainconfig.js';
import { TEMPLATES_DIR } from './paths.js';
import { runHelper } from './pythonhelper.js';
import { listGpus, type GpuInfo } from './gpu-monitor.js';
import { readDatasetInfo } from './datasetinfo.js';
import { isModelDir } from './files.js';
import { readSettings } from './settings.js';
import { busyGpuWarnings } from './gpubusy.js';
import { sweepStaleScratch } from './runclaim.js';
import { checkVram } from './vramcheck.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';
import { tokenizedPathFor } from './tokcache.js';
import { readModelFacts } from './weights.js';
import { planWallTime } from './walltime.js';
import { checkNodeLaunch, launchCommand, planNodeLaunch, relaunchArgs } from './distributed.js';

export type Progress = (phase: string, message?: string) => void;

export async function loadProfiles(): Promise<Record<string, Profile>> {
  const text = await readFile(join(TEMPLATES_DIR, 'profiles.yaml'), 'utf8');
  return Profiles.parse(parseYaml(text));
}

async function loadTrainDefaults(): Promise<TrainConfig> {
  const file = join(TEMPLATES_DIR, 'train', 'lora_sft.yaml');
  return parseConfigYaml(await readFile(file, 'utf8'), file);
}

export function resolveModelDir(ws: Workspace, model: string): string {
  const candidates = [resolve(model), join(ws.modelsDir, model)];
  for (const c of candidates) if (isModelDir(c)) return c;
  throw new MedtuneError({
    doing: `finding model "${model}"`,
    problem: `neither ${candidates[0]} nor ${candidates[1]} holds a model (no config.json)`,
    next:
      model.includes('2b') || model.includes('2B')
        ? `download it with \`medtune model fetch ${model}\`, or copy the model folder into ${ws.modelsDir}/${model}`
        : 'list models with `medtune model list`; build the offline test model with `medtune model tiny`',
    code: 'NO_MODEL',
  });
}

/** Counts samples of registered datasets (lines of their jsonl files), each capped at max_samples as LLaMA-Factory does. */
async function countSamples(ws: Workspace, names: string[], maxSamples?: number): Promise<number> {
  const info = await readDatasetInfo(ws);
  let total = 0;
  const missing: string[] = [];
  for (const name of names) {
    const entry = info[name];
    if (!entry?.file_name) {
      missing.push(name);
      continue;
    }
    const file = join(ws.dataDir, entry.file_name);
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') return '';
      throw new MedtuneError({
        doing: 'checking the datasets of the run',
        problem: `${ws.datasetInfo} says dataset "${name}" is in ${entry.file_name}, but ${file} does not exist`,
        next: `fix the "file_name" of "${name}" in dataset_info.json, or prepare it again with \`medtune data prepare --name ${name.replace(/_val$/, '')} --force\``,
        code: 'DATASET_FILE_MISSING',
      });
    });
    const trimmed = text.trim();
    let n: number;
    try {
      n = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]).length : trimmed.split('\n').filter(Boolean).length;
    } catch (err) {
      throw new MedtuneError({
        doing: 'checking the datasets of the run',
        problem: `${file} (dataset "${name}") is not valid JSON: ${(err as Error).message}`,
        next: 'fix the file, or prepare the dataset again with `medtune data prepare --force`',
        code: 'BAD_DATASET_FILE',
      });
    }
    total += maxSamples && maxSamples > 0 ? Math.min(n, maxSamples) : n;
  }
  if (missing.length) {
    throw new MedtuneError({
      doing: 'checking the datasets of the run',
      problem: `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not registered in ${ws.datasetInfo}`,
      next: `registered: ${Object.keys(info).join(', ') || 'none'}; prepare one with \`medtune data prepare\``,
      code: 'DATASET_UNDEFINED',
    });
  }
  return total;
}

function newRunId(model: string, name?: string): string {
  const t = compactTimestamp(new Date());
  const short = basename(model)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 24);
  return [t, short, name?.replace(/[^A-Za-z0-9_-]+/g, '-')].filter(Boolean).join('-');
}

/** Builds the config and everything derived from it; writes nothing. `gpus`: the GPUs the caller already listed. */
export async function planRun(ws: Workspace, venv: Venv, request: TrainRequest, opts: { gpus?: GpuInfo[] } = {}): Promise<RunPlan> {
  const gpus = opts.gpus ?? (await listGpus()).gpus;
  const settings = await readSettings(ws);
  const modelDir = resolveModelDir(ws, request.model);
  let id = newRunId(request.model, request.name);
  for (let i = 2; existsSync(join(ws.runsDir, id)); i++) id = `${newRunId(request.model, request.name)}-${i}`;
  const runDir = join(ws.runsDir, id);
  const {
    request: req,
    profile,
    config,
  } = planRunConfig({
    request,
    profiles: await loadProfiles(),
    defaults: await loadTrainDefaults(),
    settingsOverrides: [
      ...(settings.report_to ? [`report_to=${[settings.report_to].flat().join(',')}`] : []),
      ...(settings.overrides ?? []),
    ],
    gpus,
    modelDir,
    modelFacts: await readModelFacts(modelDir),
    runDir,
    dataDir: ws.dataDir,
    cores: availableParallelism(),
  });
  // report_to's trackers write into the run folder and need no account (core/trackers.ts).
  const tracking = planTrackers(config.report_to, {
    runDir,
    env: process.env,
    installed: [...Object.keys(venv.marker.packages), ...Object.keys(venv.marker.extras ?? {})],
    venvBin: venv.bin,
  });
  Object.assign(config, tracking.config);
  // Same data, template, cutoff, pixel limits, tokenizer and LLaMA-Factory: reuse the tokenized dataset (keyed; see core/tokcache.ts).
  // `--set tokenized_path=null` turns it off.
  if (config.tokenized_path === undefined) {
    const path = await tokenizedPathFor(ws, config, await readDatasetInfo(ws), venv.marker.packages.llamafactory ?? 'unknown');
    if (path) config.tokenized_path = path;
  } else if (config.tokenized_path === null) {
    delete config.tokenized_path;
  }
  const trainYaml = join(runDir, 'train.yaml');
  const distributed = planNodeLaunch(venv, req, {
    hostGpus: gpus.length,
    config,
    trainYaml,
    runDir,
    relaunchArgs: relaunchArgs(req, modelDir),
  });
  Object.assign(config, distributed.config);
  // GPU memory of this config against the cards it will use (indices in --gpus; every card otherwise).
  const picked = req.gpus && /^[\d,\s]+$/.test(req.gpus) ? gpus.filter((g) => req.gpus!.split(',').map(Number).includes(g.index)) : gpus;
  const vram = gpus.length
    ? await checkVram(
        config,
        modelDir,
        picked.map((g) => g.memoryTotalMiB).filter((v): v is number => v !== null),
        { ...(profile.env ?? {}), ...process.env },
      )
    : { estimate: null, warnings: [] };
  const modelConfig = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const textConfig = textConfigOf(modelConfig);
  let freeBytes = 0;
  if (textConfig) {
    await mkdir(ws.root, { recursive: true });
    const fs = await statfs(ws.root);
    freeBytes = fs.bavail * fs.bsize;
  }
  const plan = planRunFromFacts({
    id,
    request: req,
    profile,
    config,
    modelDir,
    trainYaml,
    distributed,
    command: launchCommand(venv, distributed, trainYaml),
    gpus,
    busyGpus: gpus.length ? await busyGpuWarnings(ws, req.gpus) : [],
    vram,
    rows: await countSamples(ws, req.datasets, trainOptions(config).max_samples ?? undefined),
    textConfig,
    freeBytes,
    outputDir: resolve(String(config.output_dir)),
    env: process.env,
    tracking,
  });
  const time = await planWallTime({
    ws,
    profile: req.profile,
    config,
    profileValues: profile.values,
    modelDir,
    modelConfig,
    datasets: req.datasets,
    samples: plan.samples,
    totalSteps: plan.totalSteps,
    devices: distributed.worldSize,
    gpuNames: picked.slice(0, Math.max(1, distributed.worldSize)).map((g) => g.name),
  });
  return { ...plan, time };
}

/**
 * Everything that must pass before a run folder exists. Throws one clear error on the first hard failure.
 * `forLaunch: false` (a dry run) lets through what only this machine's hardware forbids, so a GPU config can be
 * prepared and checked on a laptop.
 */
export async function preflight(
  ws: Workspace,
  venv: Venv,
  plan: RunPlan,
  progress: Progress = () => {},
  opts: { forLaunch?: boolean } = {},
): Promise<void> {
  const forLaunch = opts.forLaunch ?? true;
  const hard = blockingFindings(plan.findings, forLaunch);
  if (hard.length) throw blockingError(hard);
  if (forLaunch) await checkNodeLaunch(venv, plan.distributed, (await listGpus()).gpus.length);
  progress('preflight', "checking the config with LLaMA-Factory's own parser");
  await sweepStaleScratch(ws.runsDir);
  const scratch = join(ws.runsDir, `.check-${plan.id}-${process.pid}`);
  await mkdir(scratch, { recursive: true });
  try {
    const file = join(scratch, 'train.yaml');
    // Keys that only parse inside torchrun (core/distributed.ts LAUNCH_ONLY_KEYS) stay out of this one-process check.
    const checked = Object.fromEntries(Object.entries(plan.config).filter(([k]) => !plan.distributed.launchOnlyKeys.includes(k)));
    await writeFile(file, plan.distributed.launchOnlyKeys.length ? toYaml(checked) : plan.yaml);
    const gpuOnly = !forLaunch && plan.findings.some((f) => f.code === 'NEEDS_GPU');
    const args = ['--mode', 'train', '--yaml', file, '--label', `the train config of run ${plan.id}`, ...(gpuOnly ? ['--cpu-check'] : [])];
    await runHelper('check_args', args, ResultEvent, {
      venv,
      doing: 'checking the train config with LLaMA-Factory',
      cwd: ws.root,
      timeoutMs: 180_000,
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
