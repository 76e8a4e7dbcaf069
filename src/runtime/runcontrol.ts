/**
 * Runs: plan a train config, check it before anything is written (LLaMA-Factory's parser, datasets, disk), then
 * hand it to a detached supervisor. Stop and resume act on the run's process tree and run.json. The use case that
 * strings these together, with its defaults, is src/app/train.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, statfs, writeFile, readdir } from 'node:fs/promises';
import { join, resolve, basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import type { RunManifest } from '../core/run.js';
import { ATTEMPT_MARK, TERMINAL_STATUSES } from '../core/run.js';
import { finding, type Finding } from '../core/findings.js';
import { compactTimestamp } from '../core/format.js';
import { buildTrainConfig, commandLine, lintTrainConfig, parseConfigYaml, Profiles, toYaml, type Profile, type TrainConfig } from '../core/trainconfig.js';
import { loraParamCount, planDisk, textConfigOf, totalSteps, type DiskPlan } from '../core/estimate.js';
import { PACKAGE_ROOT, TEMPLATES_DIR } from './paths.js';
import { helperEnv, runHelper } from './helpers.js';
import { listGpus, type GpuInfo } from './doctor.js';
import { readDatasetInfo } from './datasets.js';
import { isModelDir, tailText } from './files.js';
import { descendants, isAlive, leaves, signalGroup, signalPid } from './proctree.js';
import { latestCompleteCheckpoint } from './runreader.js';
import { readManifest, resolveRunDir, runPaths, updateManifest, writeManifest } from './manifest.js';
import { readSettings } from './settings.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface TrainRequest {
  /** A folder under models/, a path, or a known model name. */
  model: string;
  datasets: string[];
  /** An eval dataset (e.g. the `_val` entry `data prepare` registers) for an eval-loss curve. */
  evalDataset?: string;
  profile: string;
  overrides?: string[];
  /** CUDA_VISIBLE_DEVICES for the run (indices or UUIDs). */
  gpus?: string;
  autoResume?: number;
  /** Appended to the run id. */
  name?: string;
}

export interface RunPlan {
  id: string;
  config: TrainConfig;
  yaml: string;
  command: string[];
  env: Record<string, string>;
  commandLine: string;
  outputDir: string;
  profile: Profile;
  modelDir: string;
  samples: number;
  totalSteps: number;
  disk: DiskPlan | null;
  /** What the checks that need no Python found; `fail` ones stop a launch (see preflight). */
  findings: Finding[];
}

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
    next: model.includes('2b') || model.includes('2B')
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
    const text = await readFile(join(ws.dataDir, entry.file_name), 'utf8').catch(() => '');
    const trimmed = text.trim();
    const n = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]).length : trimmed.split('\n').filter(Boolean).length;
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
  const short = basename(model).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 24);
  return [t, short, name?.replace(/[^A-Za-z0-9_-]+/g, '-')].filter(Boolean).join('-');
}

/** Builds the config and everything derived from it; writes nothing. */
/** `gpus`: the GPUs the caller already listed (saves a second nvidia-smi). */
export async function planRun(ws: Workspace, venv: Venv, req: TrainRequest, opts: { gpus?: GpuInfo[] } = {}): Promise<RunPlan> {
  const settings = await readSettings(ws);
  const profiles = await loadProfiles();
  const profile = profiles[req.profile];
  if (!profile) {
    throw new MedtuneError({ doing: 'choosing a hardware profile', problem: `no profile "${req.profile}"`, next: `use one of: ${Object.keys(profiles).join(', ')}`, code: 'BAD_PROFILE' });
  }
  if (!req.datasets.length) {
    throw new MedtuneError({ doing: 'planning a run', problem: 'no dataset given', next: 'pass --dataset NAME (see `medtune data list`)', code: 'NO_DATASET' });
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
    Object.assign(fills, { eval_dataset: req.evalDataset, eval_strategy: 'steps', per_device_eval_batch_size: profile.values.per_device_train_batch_size ?? 1 });
  }
  const { config } = buildTrainConfig({ defaults: await loadTrainDefaults(), profile, fills, overrides: [...(settings.overrides ?? []), ...(req.overrides ?? [])] });
  if (req.evalDataset && config.eval_steps === undefined) config.eval_steps = config.save_steps ?? 500;

  const gpus = opts.gpus ? { gpus: opts.gpus } : await listGpus();
  const findings = lintTrainConfig(config, { hasGpu: gpus.gpus.length > 0 });
  const deviceCount = req.gpus ? req.gpus.split(',').length : Math.max(1, gpus.gpus.length);
  if (deviceCount > 1 && /\s/.test(`${runDir}${modelDir}${ws.dataDir}`)) {
    findings.push(finding('PATH_HAS_SPACE', 'fail', 'a path of this run contains a space, which breaks LLaMA-Factory under torchrun (several GPUs)', 'move the workspace to a path without spaces', 'config'));
  }
  if (profile.vramGiB > 0 && gpus.gpus.length) {
    const smallest = Math.min(...gpus.gpus.map((g) => g.memoryTotalMiB ?? Infinity)) / 1024;
    if (smallest + 1 < profile.vramGiB) findings.push(finding('PROFILE_TOO_BIG', 'warn', `profile ${req.profile} is sized for ${profile.vramGiB} GB cards but the smallest GPU here has ${smallest.toFixed(0)} GiB: expect CUDA out of memory`, 'pick a smaller profile', 'VRAM'));
  }

  const all = await countSamples(ws, req.datasets, Number(config.max_samples ?? 0) || undefined);
  // val_size splits the training data: a fraction below 1, a row count above.
  const valSize = Number(config.val_size ?? 0);
  const samples = valSize > 0 ? Math.max(1, valSize < 1 ? Math.round(all * (1 - valSize)) : all - valSize) : all;
  const steps = totalSteps(samples, Number(config.per_device_train_batch_size ?? 1), Number(config.gradient_accumulation_steps ?? 1), Number(config.num_train_epochs ?? 1), deviceCount, Number(config.max_steps ?? 0) || undefined);
  let disk: DiskPlan | null = null;
  const modelConfig = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const text = textConfigOf(modelConfig);
  if (text) {
    const saves = Math.floor(steps / Math.max(1, Number(config.save_steps ?? 500)));
    await mkdir(ws.root, { recursive: true });
    const fs = await statfs(ws.root);
    disk = planDisk(loraParamCount(text, Number(config.lora_rank ?? 8)), (config.save_total_limit as number | null) ?? null, saves, fs.bavail * fs.bsize, { saveOnlyModel: config.save_only_model === true });
    if (!disk.fits) {
      const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
      findings.push(finding('DISK_TOO_SMALL', 'fail', `the run needs about ${gib(disk.neededBytes)} (${disk.keptCheckpoints} checkpoints of ${gib(disk.checkpointBytes)} kept, plus the final adapter) but only ${gib(disk.freeBytes)} is free`, 'free disk, lower save_total_limit, or --set save_only_model=true (drops optimizer state)', 'disk'));
    }
  }

  const env: Record<string, string> = {
    LLAMABOARD_ENABLED: '1',
    // An --set output_dir=… override moves the whole output, running_log.txt included.
    LLAMABOARD_WORKDIR: resolve(String(config.output_dir)),
    PYTHONUNBUFFERED: '1',
    HF_HUB_OFFLINE: '1',
  };
  if (gpus.gpus.length) {
    env.RECORD_VRAM = '1';
    // CUDA's default order differs from nvidia-smi's on mixed hosts; PCI order makes --gpus indices match the GPU panel.
    env.CUDA_DEVICE_ORDER = 'PCI_BUS_ID';
  }
  if (req.gpus) env.CUDA_VISIBLE_DEVICES = req.gpus;
  if (config.deepspeed) env.FORCE_TORCHRUN = '1';
  const trainYaml = join(runDir, 'train.yaml');
  const command = [join(venv.bin, 'llamafactory-cli'), 'train', trainYaml];
  const yaml = toYaml(config, `written by medtune for run ${id} (profile ${req.profile}); launched as:\n  ${commandLine(command, env)}`);
  return { id, config, yaml, command, env, commandLine: commandLine(command, env), outputDir: resolve(String(config.output_dir)), profile, modelDir, samples, totalSteps: steps, disk, findings };
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

export async function preflight(ws: Workspace, venv: Venv, plan: RunPlan, progress: Progress = () => {}, opts: { forLaunch?: boolean } = {}): Promise<void> {
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
  progress('preflight', "checking the config with LLaMA-Factory's own parser");
  const scratch = join(ws.runsDir, `.check-${plan.id}`);
  await mkdir(scratch, { recursive: true });
  try {
    const file = join(scratch, 'train.yaml');
    await writeFile(file, plan.yaml);
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
    throw new MedtuneError({ doing: 'starting the run supervisor', problem: `${entry} is missing`, next: `run \`npm run build\` in ${PACKAGE_ROOT}`, code: 'NOT_BUILT' });
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
  const pending = join(ws.runsDir, `.pending-${plan.id}`);
  const dir = join(ws.runsDir, plan.id);
  const paths = runPaths(dir);
  await rm(pending, { recursive: true, force: true });
  await mkdir(join(pending, 'output'), { recursive: true });
  const now = new Date().toISOString();
  const manifest: RunManifest = {
    id: plan.id,
    createdAt: now,
    updatedAt: now,
    status: 'queued',
    model: plan.modelDir,
    datasets: req.datasets,
    profile: req.profile,
    outputDir: plan.outputDir,
    trainYaml: paths.trainYaml,
    command: plan.command,
    env: plan.env,
    cwd: ws.root,
    attempts: [],
    autoResume: req.autoResume ?? settings.autoResume ?? 0,
  };
  await writeFile(join(pending, 'train.yaml'), plan.yaml);
  await writeManifest(pending, manifest);
  // The folder appears whole or not at all.
  await rename(pending, dir);
  spawnSupervisor(venv, dir);
  return manifest;
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
 * Stops a run: SIGABRT to the leaves of the tree (LLaMA-Factory then saves the adapter and exits 0), SIGTERM to
 * the group if it has not ended within the grace period, SIGKILL after that. Before the trainer has installed its
 * abort handler, SIGABRT would core-dump it, so SIGTERM is sent instead.
 */
export async function stopRun(ws: Workspace, ref: string, opts: StopOptions = {}): Promise<{ manifest: RunManifest; signals: string[] }> {
  const dir = await resolveRunDir(ws, ref);
  const signals: string[] = [];
  let m = await readManifest(dir);
  if (!m) throw new MedtuneError({ doing: `stopping ${ref}`, problem: 'run.json is missing', next: 'check `medtune runs`', code: 'NO_RUN' });
  if (TERMINAL_STATUSES.includes(m.status)) return { manifest: m, signals };
  m = await updateManifest(dir, (cur) => {
    cur.stopRequested = true;
    cur.status = 'stopping';
  });
  const attempt = m.attempts[m.attempts.length - 1];
  const pid = attempt?.pid;
  const pgid = attempt?.pgid ?? pid;
  if (pid && isAlive(pid)) {
    const gone = () => !isAlive(pid) && !descendants(pid).length;
    if (opts.now) {
      signalGroup(pgid!, 'SIGKILL');
      signals.push('SIGKILL');
    } else {
      if (await abortHandlerInstalled(dir)) {
        for (const p of leaves(descendants(pid))) signalPid(p.pid, 'SIGABRT');
        signals.push('SIGABRT');
      } else {
        signalGroup(pgid!, 'SIGTERM');
        signals.push('SIGTERM');
      }
      if (!(await waitFor(gone, opts.graceMs ?? 120_000))) {
        signalGroup(pgid!, 'SIGTERM');
        signals.push('SIGTERM');
        if (!(await waitFor(gone, 15_000))) {
          signalGroup(pgid!, 'SIGKILL');
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
export async function resumeRun(ws: Workspace, venv: Venv, ref: string): Promise<{ manifest: RunManifest; checkpoint: string }> {
  const dir = await resolveRunDir(ws, ref);
  const m = await readManifest(dir);
  if (!m) throw new MedtuneError({ doing: `resuming ${ref}`, problem: 'run.json is missing', next: 'check `medtune runs`', code: 'NO_RUN' });
  const attempt = m.attempts[m.attempts.length - 1];
  if (!TERMINAL_STATUSES.includes(m.status) && (isAlive(attempt?.pid) || isAlive(attempt?.supervisorPid))) {
    throw new MedtuneError({ doing: `resuming ${m.id}`, problem: `the run is still ${m.status} (pid ${attempt?.pid})`, next: `watch it with \`medtune attach ${m.id}\`, or stop it first with \`medtune stop ${m.id}\``, code: 'RUN_ACTIVE' });
  }
  if (m.status === 'completed') {
    throw new MedtuneError({ doing: `resuming ${m.id}`, problem: 'the run already completed', next: `export it with \`medtune export ${m.id}\`, or train again with more epochs`, code: 'RUN_COMPLETED' });
  }
  const checkpoint = await latestCompleteCheckpoint(m.outputDir);
  if (!checkpoint) {
    const entries = await readdir(m.outputDir).catch(() => [] as string[]);
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: `no complete checkpoint in ${m.outputDir}${entries.some((e) => e.startsWith('checkpoint-')) ? ' (the checkpoints there are incomplete)' : ''}`,
      next: `start a fresh run with \`medtune train\`; lower save_steps so a crash loses less`,
      code: 'NO_CHECKPOINT',
    });
  }
  const next = await updateManifest(dir, (cur) => {
    cur.status = 'queued';
    cur.stopRequested = false;
    delete cur.cause;
  });
  spawnSupervisor(venv, dir, checkpoint);
  return { manifest: next, checkpoint };
}
