/**
 * Runs: plan a train config, check it before anything is written (LLaMA-Factory's parser, datasets, disk), then
 * hand it to a detached supervisor. Stop and resume act on the run's process tree and run.json. The use case that
 * strings these together, with its defaults, is src/app/train.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join, resolve, basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import type { RunManifest } from '../core/run.js';
import { ATTEMPT_MARK, TERMINAL_STATUSES } from '../core/run.js';
import { finding, type Finding } from '../core/findings.js';
import { compactTimestamp } from '../core/format.js';
import {
  buildTrainConfig,
  chooseProfile,
  commandLine,
  lintTrainConfig,
  parseConfigYaml,
  Profiles,
  toYaml,
  type Profile,
  type TrainConfig,
} from '../core/trainconfig.js';
import { loraParamCount, planDisk, textConfigOf, totalSteps, type DiskPlan } from '../core/estimate.js';
import { PACKAGE_ROOT, TEMPLATES_DIR } from './paths.js';
import { helperEnv, runHelper } from './helpers.js';
import { listGpus, type GpuInfo } from './doctor.js';
import { readDatasetInfo } from './datasetinfo.js';
import { isModelDir, tailText } from './files.js';
import { isAlive, RunTree, signalPid } from './proctree.js';
import { readManifest, resolveRunDir, runPaths, updateManifest, writeManifest } from './manifest.js';
import { readSettings } from './settings.js';
import { reconcileRun } from './reconcile.js';
import { busyGpuWarnings } from './gpubusy.js';
import { claimRunDir, sweepStaleScratch } from './runclaim.js';
import { checkVram } from './vramcheck.js';
import { planWallTime } from './walltime.js';
import { checkpointRoom, estimatedCheckpointBytes } from './diskwatch.js';
import { formatBytes } from '../core/format.js';
import { resumableCheckpoint, savesOnlyModel, type SkippedCheckpoint } from './checkpoints.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';
import { clearIncompleteTokenized, tokenizedPathFor } from './tokcache.js';
import { autoPreprocessingWorkers } from '../core/tokcache.js';
import { checkNodeLaunch, launchCommand, planNodeLaunch, relaunchArgs } from './distributed.js';
import type { RunPlan, TrainRequest } from '../core/runplan.js';

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

/** One thread per process for the CPU side of GPU runs (tokenizing workers, loader workers). */
export const GPU_THREAD_ENV: Record<string, string> = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false' };

function pickDefined(env: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => env[k] !== undefined).map((k) => [k, env[k]!]));
}

/** Builds the config and everything derived from it; writes nothing. */
/** `gpus`: the GPUs the caller already listed (saves a second nvidia-smi). */
export async function planRun(ws: Workspace, venv: Venv, req: TrainRequest, opts: { gpus?: GpuInfo[] } = {}): Promise<RunPlan> {
  const settings = await readSettings(ws);
  const profiles = await loadProfiles();
  if (req.profile === 'auto') {
    req = {
      ...req,
      profile: chooseProfile(
        profiles,
        (opts.gpus ?? (await listGpus()).gpus).map((g) => (g.memoryTotalMiB ?? 0) / 1024),
      ),
    };
  }
  const profile = profiles[req.profile];
  if (!profile) {
    throw new MedtuneError({
      doing: 'choosing a hardware profile',
      problem: `no profile "${req.profile}"`,
      next: `use one of: ${Object.keys(profiles).join(', ')}`,
      code: 'BAD_PROFILE',
    });
  }
  if (!req.datasets.length) {
    throw new MedtuneError({
      doing: 'planning a run',
      problem: 'no dataset given',
      next: 'pass --dataset NAME (see `medtune data list`)',
      code: 'NO_DATASET',
    });
  }
  const modelDir = resolveModelDir(ws, req.model);
  let id = newRunId(req.model, req.name);
  for (let i = 2; existsSync(join(ws.runsDir, id)); i++) id = `${newRunId(req.model, req.name)}-${i}`;
  const runDir = join(ws.runsDir, id);
  const fills: TrainConfig = {
    model_name_or_path: modelDir,
    dataset: req.datasets.join(','),
    dataset_dir: ws.dataDir,
    output_dir: join(runDir, 'output'),
  };
  if (req.evalDataset) {
    Object.assign(fills, {
      eval_dataset: req.evalDataset,
      eval_strategy: 'steps',
      per_device_eval_batch_size: profile.values.per_device_train_batch_size ?? 1,
    });
  }
  const { config } = buildTrainConfig({
    defaults: await loadTrainDefaults(),
    profile,
    fills,
    overrides: [...(settings.overrides ?? []), ...(req.overrides ?? [])],
  });
  if (req.evalDataset && config.eval_steps === undefined) config.eval_steps = config.save_steps ?? 500;

  const gpus = opts.gpus ? { gpus: opts.gpus } : await listGpus();
  // GPU profiles say `preprocessing_num_workers: auto`: one tokenizing process per core, at most 16.
  if (config.preprocessing_num_workers === 'auto') config.preprocessing_num_workers = autoPreprocessingWorkers(availableParallelism());
  // Same data, template, cutoff, pixel limits, tokenizer and LLaMA-Factory: reuse the tokenized dataset (keyed; see core/tokcache.ts).
  // `--set tokenized_path=null` turns it off.
  if (config.tokenized_path === undefined) {
    const path = await tokenizedPathFor(ws, config, await readDatasetInfo(ws), venv.marker.packages.llamafactory ?? 'unknown');
    if (path) config.tokenized_path = path;
  } else if (config.tokenized_path === null) {
    delete config.tokenized_path;
  }
  const findings = lintTrainConfig(config, { hasGpu: gpus.gpus.length > 0 });
  const trainYaml = join(runDir, 'train.yaml');
  const distributed = planNodeLaunch(venv, req, {
    hostGpus: gpus.gpus.length,
    config,
    trainYaml,
    runDir,
    relaunchArgs: relaunchArgs(req, modelDir),
  });
  Object.assign(config, distributed.config);
  const deviceCount = distributed.worldSize;
  if (profile.vramGiB > 0 && gpus.gpus.length) {
    const smallest = Math.min(...gpus.gpus.map((g) => g.memoryTotalMiB ?? Infinity)) / 1024;
    if (smallest + 1 < profile.vramGiB)
      findings.push(
        finding(
          'PROFILE_TOO_BIG',
          'warn',
          `profile ${req.profile} is sized for ${profile.vramGiB} GB cards but the smallest GPU here has ${smallest.toFixed(0)} GiB: expect CUDA out of memory`,
          'pick a smaller profile',
          'VRAM',
        ),
      );
  }

  if (gpus.gpus.length)
    for (const w of await busyGpuWarnings(ws, req.gpus)) findings.push(finding('GPU_BUSY', 'warn', w, undefined, 'GPU'));
  // GPU memory of this config against the cards it will use (indices in --gpus; every card otherwise).
  const picked =
    req.gpus && /^[\d,\s]+$/.test(req.gpus) ? gpus.gpus.filter((g) => req.gpus!.split(',').map(Number).includes(g.index)) : gpus.gpus;
  const vram = gpus.gpus.length
    ? await checkVram(
        config,
        modelDir,
        picked.map((g) => g.memoryTotalMiB).filter((v): v is number => v !== null),
        { ...(profile.env ?? {}), ...process.env },
      )
    : { estimate: null, warnings: [] };
  for (const w of vram.warnings) findings.push(finding('VRAM_TOO_SMALL', 'warn', w, 'pick a smaller profile or lower the batch', 'VRAM'));

  const all = await countSamples(ws, req.datasets, Number(config.max_samples ?? 0) || undefined);
  // val_size splits the training data: a fraction below 1, a row count above.
  const valSize = Number(config.val_size ?? 0);
  const samples = valSize > 0 ? Math.max(1, valSize < 1 ? Math.round(all * (1 - valSize)) : all - valSize) : all;
  const steps = totalSteps(
    samples,
    Number(config.per_device_train_batch_size ?? 1),
    Number(config.gradient_accumulation_steps ?? 1),
    Number(config.num_train_epochs ?? 1),
    deviceCount,
    Number(config.max_steps ?? 0) || undefined,
  );
  let disk: DiskPlan | null = null;
  const modelConfig = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const text = textConfigOf(modelConfig);
  if (text) {
    const saves = Math.floor(steps / Math.max(1, Number(config.save_steps ?? 500)));
    await mkdir(ws.root, { recursive: true });
    const fs = await statfs(ws.root);
    disk = planDisk(
      loraParamCount(text, Number(config.lora_rank ?? 8)),
      (config.save_total_limit as number | null) ?? null,
      saves,
      fs.bavail * fs.bsize,
      { saveOnlyModel: config.save_only_model === true },
    );
    if (!disk.fits) {
      const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
      findings.push(
        finding(
          'DISK_TOO_SMALL',
          'fail',
          `the run needs about ${gib(disk.neededBytes)} (${disk.keptCheckpoints} checkpoints of ${gib(disk.checkpointBytes)} kept, plus the final adapter) but only ${gib(disk.freeBytes)} is free`,
          'free disk, lower save_total_limit, or --set save_only_model=true (drops optimizer state)',
          'disk',
        ),
      );
    }
  }

  const time = await planWallTime({
    ws,
    profile: req.profile,
    config,
    profileValues: profile.values,
    modelDir,
    modelConfig,
    datasets: req.datasets,
    samples,
    totalSteps: steps,
    devices: deviceCount,
    gpuNames: picked.slice(0, Math.max(1, deviceCount)).map((g) => g.name),
  });

  const env: Record<string, string> = {
    LLAMABOARD_ENABLED: '1',
    // An --set output_dir=… override moves the whole output, running_log.txt included.
    LLAMABOARD_WORKDIR: resolve(String(config.output_dir)),
    PYTHONUNBUFFERED: '1',
    HF_HUB_OFFLINE: '1',
  };
  if (gpus.gpus.length) {
    // The image processor of every tokenizing process and loader worker runs torch CPU ops with one thread per core:
    // 16 workers x 16 threads made "Running tokenizer on dataset" 12 samples/s on 16 cores; one thread each, 308
    // (bench/results/gpu-train.md). The GPU trainer itself needs no CPU threads. A value the user set is kept.
    Object.assign(
      env,
      GPU_THREAD_ENV,
      profile.env ?? {},
      pickDefined(process.env, [...Object.keys(GPU_THREAD_ENV), ...Object.keys(profile.env ?? {})]),
    );
    env.RECORD_VRAM = '1';
    // CUDA's default order differs from nvidia-smi's on mixed hosts; PCI order makes --gpus indices match the GPU panel.
    env.CUDA_DEVICE_ORDER = 'PCI_BUS_ID';
  }
  Object.assign(env, distributed.env);
  if (config.deepspeed) env.FORCE_TORCHRUN = '1';
  const command = launchCommand(venv, distributed, trainYaml);
  const yaml = toYaml(config, `written by medtune for run ${id} (profile ${req.profile}); launched as:\n  ${commandLine(command, env)}`);
  return {
    id,
    config,
    yaml,
    command,
    env,
    commandLine: commandLine(command, env),
    outputDir: resolve(String(config.output_dir)),
    profile,
    profileName: req.profile,
    modelDir,
    samples,
    totalSteps: steps,
    disk,
    vram: vram.estimate,
    time,
    findings,
    distributed,
  };
}

/**
 * Everything that must pass before a run folder exists. Throws one clear error on the first hard failure.
 * `forLaunch: false` (a dry run) lets through what only this machine's hardware forbids, so a GPU config can be
 * prepared and checked on a laptop.
 */
/** The findings that stop this launch: every `fail`, except NEEDS_GPU for a dry run. */
export function blockingFindings(plan: RunPlan, forLaunch: boolean): Finding[] {
  return plan.findings.filter((f) => f.severity === 'fail' && (forLaunch || f.code !== 'NEEDS_GPU'));
}

export async function preflight(
  ws: Workspace,
  venv: Venv,
  plan: RunPlan,
  progress: Progress = () => {},
  opts: { forLaunch?: boolean } = {},
): Promise<void> {
  const forLaunch = opts.forLaunch ?? true;
  const hard = blockingFindings(plan, forLaunch);
  if (hard.length) {
    const first = hard[0]!;
    throw new MedtuneError({
      doing: first.code === 'DISK_TOO_SMALL' ? 'checking free disk for checkpoints' : 'checking the train config',
      problem: first.message,
      details: hard.slice(1).map((f) => f.message),
      next: first.next ?? 'change the profile or the --set overrides',
      code: first.code === 'DISK_TOO_SMALL' ? 'DISK_TOO_SMALL' : 'BAD_CONFIG',
    });
  }
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
    await runHelper('check_args', args, { venv, doing: 'checking the train config with LLaMA-Factory', cwd: ws.root, timeoutMs: 180_000 });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function supervisorEntry(): string {
  const entry = join(PACKAGE_ROOT, 'dist', 'runtime', 'supervisor-main.js');
  if (!existsSync(entry)) {
    throw new MedtuneError({
      doing: 'starting the run supervisor',
      problem: `${entry} is missing`,
      next: `run \`npm run build\` in ${PACKAGE_ROOT}`,
      code: 'NOT_BUILT',
    });
  }
  return entry;
}

/** Starts the detached supervisor of a run (or job) folder whose run.json is written; returns its pid. */
export function spawnSupervisor(venv: Venv, runDir: string, resumeFrom?: string): number {
  const args = [supervisorEntry(), runDir, ...(resumeFrom ? ['--resume-from', resumeFrom] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore', env: helperEnv(venv), cwd: runDir });
  child.unref();
  return child.pid ?? 0;
}

/** Creates runs/<id>/ from a checked plan and starts its supervisor; returns at once. */
export async function launchRun(ws: Workspace, venv: Venv, req: TrainRequest, plan: RunPlan): Promise<RunManifest> {
  const settings = await readSettings(ws);
  // Private to this process: another `train` started in the same second plans the same id.
  const pending = join(ws.runsDir, `.pending-${plan.id}-${process.pid}`);
  await rm(pending, { recursive: true, force: true });
  await mkdir(join(pending, 'output'), { recursive: true });
  const now = new Date().toISOString();
  const manifestOf = (p: RunPlan): RunManifest => ({
    id: p.id,
    createdAt: now,
    updatedAt: now,
    status: 'queued',
    model: p.modelDir,
    datasets: req.datasets,
    profile: p.profileName,
    outputDir: p.outputDir,
    trainYaml: runPaths(join(ws.runsDir, p.id)).trainYaml,
    command: p.command,
    env: p.env,
    cwd: ws.root,
    attempts: [],
    autoResume: req.autoResume ?? settings.autoResume ?? 0,
  });
  const write = async (p: RunPlan) => {
    await writeFile(join(pending, 'train.yaml'), p.yaml);
    await writeManifest(pending, manifestOf(p));
  };
  await write(plan);
  // The folder appears whole or not at all; a taken id moves this run to the next one.
  const claimed = await claimRunDir(ws.runsDir, pending, plan, write);
  if (typeof plan.config.tokenized_path === 'string') await clearIncompleteTokenized(plan.config.tokenized_path);
  spawnSupervisor(venv, join(ws.runsDir, claimed.id));
  return manifestOf(claimed);
}

export interface StopOptions {
  /** SIGKILL the whole tree at once. */
  now?: boolean;
  /** How long a graceful stop may take before SIGTERM, then SIGKILL. */
  graceMs?: number;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return cond();
}

/** True once LLaMA-Factory's LogCallback (and with it the SIGABRT handler) exists. */
async function abortHandlerInstalled(dir: string): Promise<boolean> {
  const err = await tailText(join(dir, 'stderr.log'), 4 * 2 ** 20);
  const lastAttempt = err.lastIndexOf(ATTEMPT_MARK);
  return /\*\*\*\*\* Running training \*\*\*\*\*/.test(err.slice(Math.max(0, lastAttempt)));
}

/**
 * Stops a run: SIGABRT to the trainers of the tree (each rank, not its loader workers) (LLaMA-Factory then saves the adapter and exits 0), SIGTERM to
 * the group if it has not ended within the grace period, SIGKILL after that. Before the trainer has installed its
 * abort handler, SIGABRT would core-dump it, so SIGTERM is sent instead.
 */
export async function stopRun(ws: Workspace, ref: string, opts: StopOptions = {}): Promise<{ manifest: RunManifest; signals: string[] }> {
  const dir = await resolveRunDir(ws, ref);
  const signals: string[] = [];
  // A run whose processes are already gone is recorded as such instead of "stopped".
  let m = (await reconcileRun(dir)).manifest;
  if (!m)
    throw new MedtuneError({ doing: `stopping ${ref}`, problem: 'run.json is missing', next: 'check `medtune runs`', code: 'NO_RUN' });
  if (TERMINAL_STATUSES.includes(m.status)) return { manifest: m, signals };
  m = await updateManifest(dir, (cur) => {
    cur.stopRequested = true;
    cur.status = 'stopping';
  });
  const attempt = m.attempts[m.attempts.length - 1];
  const pid = attempt?.pid;
  const pgid = attempt?.pgid ?? pid;
  if (pid && isAlive(pid)) {
    const tree = new RunTree(pid, pgid);
    const gone = () => tree.gone();
    if (opts.now) {
      tree.signal('SIGKILL');
      signals.push('SIGKILL');
    } else {
      if (await abortHandlerInstalled(dir)) {
        // Every rank gets it (not their loader workers): each one stops at its next step end and rank 0 saves.
        for (const p of tree.trainers()) signalPid(p.pid, 'SIGABRT');
        signals.push('SIGABRT');
      } else {
        tree.signal('SIGTERM');
        signals.push('SIGTERM');
      }
      if (!(await waitFor(gone, opts.graceMs ?? 120_000))) {
        tree.signal('SIGTERM');
        signals.push('SIGTERM');
        if (!(await waitFor(gone, 15_000))) {
          tree.signal('SIGKILL');
          signals.push('SIGKILL');
        }
      }
    }
    await waitFor(() => !isAlive(pid), 15_000);
  }
  // The supervisor records the end; if it is gone (killed by hand), record it here.
  const supervisorAlive = isAlive(attempt?.supervisorPid);
  if (supervisorAlive) await waitFor(async () => TERMINAL_STATUSES.includes((await readManifest(dir))!.status), 30_000);
  m = (await readManifest(dir))!;
  if (!TERMINAL_STATUSES.includes(m.status)) {
    m = await updateManifest(dir, (cur) => {
      cur.status = 'stopped';
      const a = cur.attempts[cur.attempts.length - 1];
      if (a && !a.endedAt) a.endedAt = new Date().toISOString();
    });
  }
  return { manifest: m, signals };
}

/** Starts a new attempt from the latest complete checkpoint. */
export async function resumeRun(
  ws: Workspace,
  venv: Venv,
  ref: string,
): Promise<{ manifest: RunManifest; checkpoint: string; skipped: SkippedCheckpoint[] }> {
  const dir = await resolveRunDir(ws, ref);
  // A run whose supervisor was killed (or a machine that restarted) is recorded as ended first.
  const { manifest: m } = await reconcileRun(dir);
  if (!m)
    throw new MedtuneError({ doing: `resuming ${ref}`, problem: 'run.json is missing', next: 'check `medtune runs`', code: 'NO_RUN' });
  const attempt = m.attempts[m.attempts.length - 1];
  if (!TERMINAL_STATUSES.includes(m.status)) {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: `the run is still ${m.status} (pid ${attempt?.pid})`,
      next: `watch it with \`medtune attach ${m.id}\`, or stop it first with \`medtune stop ${m.id}\``,
      code: 'RUN_ACTIVE',
    });
  }
  if (m.status === 'completed') {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: 'the run already completed',
      next: `export it with \`medtune export ${m.id}\`, or train again with more epochs`,
      code: 'RUN_COMPLETED',
    });
  }
  const choice = await resumableCheckpoint(m.outputDir, { saveOnlyModel: await savesOnlyModel(m.trainYaml) });
  const checkpoint = choice.path;
  if (!checkpoint) {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: choice.skipped.length ? `no checkpoint in ${m.outputDir} can be resumed` : `no checkpoint in ${m.outputDir}`,
      details: choice.skipped.map((s) => `checkpoint-${s.step}: ${s.reason}`),
      next: choice.skipped.some((s) => /optimizer|scheduler/.test(s.reason))
        ? `start a fresh run with \`medtune train\`, or train from these weights with a fresh optimizer: --set adapter_name_or_path=${choice.skipped[0]!.path}`
        : `start a fresh run with \`medtune train\`; lower save_steps so a crash loses less`,
      code: 'NO_CHECKPOINT',
    });
  }
  const room = await checkpointRoom(m.outputDir, await estimatedCheckpointBytes(m));
  if (!room.ok) {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: `only ${formatBytes(room.freeBytes)} is free where ${m.outputDir} lives; the next checkpoint needs ${formatBytes(room.neededBytes)} with margin`,
      next: `free disk (or lower save_total_limit with --set when you train again), then \`medtune resume ${m.id}\``,
      code: 'DISK_TOO_SMALL',
    });
  }
  const next = await updateManifest(dir, (cur) => {
    cur.status = 'queued';
    cur.stopRequested = false;
    delete cur.cause;
  });
  const tokenized = parseYaml((await readFile(m.trainYaml, 'utf8').catch(() => '')) || '{}') as { tokenized_path?: unknown } | null;
  if (typeof tokenized?.tokenized_path === 'string') await clearIncompleteTokenized(tokenized.tokenized_path);
  spawnSupervisor(venv, dir, checkpoint);
  return { manifest: next, checkpoint, skipped: choice.skipped };
}
