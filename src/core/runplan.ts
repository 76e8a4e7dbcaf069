/**
 * A training run before it exists: what was asked (TrainRequest) and everything decided from it (RunPlan), from
 * facts runtime/runplanner.ts gathers (GPUs, profiles, the model's config, free disk, row counts).
 */
import { join } from 'node:path';
import type { DistributedPlan, DistributedRequest } from './distributed.js';
import { MedtuneError } from './errors.js';
import { loraParamCount, planDisk, totalSteps, type DiskPlan, type TextConfig } from './estimate.js';
import { finding, type Finding } from './findings.js';
import { checkTrainValues, optionsError, trainOptions, type ModelFacts } from './options.js';
import { autoPreprocessingWorkers } from './tokcache.js';
import type { TrackerPlan } from './trackers.js';
import { buildTrainConfig, chooseProfile, commandLine, lintTrainConfig, toYaml, type Profile, type TrainConfig } from './trainconfig.js';
import type { VramEstimate } from './vram.js';
import type { WallTimeEstimate } from './walltime.js';

/** gpus, nproc, nnodes, nodeRank, master, engine, rayWorkers: how many processes on which nodes (core/distributed.ts). */
export interface TrainRequest extends DistributedRequest {
  /** A folder under models/, a path, or a known model name. */
  model: string;
  datasets: string[];
  /** An eval dataset (e.g. the `_val` entry `data prepare` registers) for an eval-loss curve. */
  evalDataset?: string;
  profile: string;
  overrides?: string[];
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
  /** The profile's name (what `--profile auto` resolved to). */
  profileName: string;
  modelDir: string;
  samples: number;
  totalSteps: number;
  disk: DiskPlan | null;
  /** Estimated GPU memory per GPU (null on CPU, or for a model medtune cannot size). */
  vram: VramEstimate | null;
  /** Expected wall time on the GPUs the run will use, or reference cards without one (null: cpu profile, unknown model). */
  time: WallTimeEstimate | null;
  /** What the checks that need no Python found; `fail` ones stop a launch (see preflight). */
  findings: Finding[];
  /** Processes, nodes, engine, effective batch and the other nodes' launch lines. */
  distributed: DistributedPlan;
}

/** GPUs as the plan needs them: index and memory. */
export interface PlanGpu {
  index: number;
  memoryTotalMiB: number | null;
}

/** What a run's config is built from: the request and the facts runtime gathered about this machine and workspace. */
export interface RunConfigInput {
  request: TrainRequest;
  profiles: Record<string, Profile>;
  /** The train template (templates/train/lora_sft.yaml). */
  defaults: TrainConfig;
  /** medtune.yaml's `overrides`, applied before the request's. */
  settingsOverrides: readonly string[];
  gpus: readonly PlanGpu[];
  modelDir: string;
  /** The model's positions and module names, which some values are checked against (`--set lora_target=…`). */
  modelFacts: ModelFacts;
  runDir: string;
  dataDir: string;
  /** CPU cores of this host (for `preprocessing_num_workers: auto`). */
  cores: number;
}

/**
 * The profile (`auto`: by the smallest GPU's memory; CPU without one), the eval defaults (every save_steps on the
 * held-out entry) and the config: template < profile < medtune's fills < medtune.yaml < the request's overrides.
 * Every value medtune describes is checked here, against the model too, before anything reads it (OPTION_INVALID).
 */
export function planRunConfig(input: RunConfigInput): { request: TrainRequest; profile: Profile; config: TrainConfig } {
  const { profiles } = input;
  let req = input.request;
  if (req.profile === 'auto')
    req = {
      ...req,
      profile: chooseProfile(
        profiles,
        input.gpus.map((g) => (g.memoryTotalMiB ?? 0) / 1024),
      ),
    };
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
  const fills: TrainConfig = {
    model_name_or_path: input.modelDir,
    dataset: req.datasets.join(','),
    dataset_dir: input.dataDir,
    output_dir: join(input.runDir, 'output'),
  };
  if (req.evalDataset) {
    Object.assign(fills, {
      eval_dataset: req.evalDataset,
      eval_strategy: 'steps',
      per_device_eval_batch_size: profile.values.per_device_train_batch_size ?? 1,
    });
  }
  const built = buildTrainConfig({
    defaults: input.defaults,
    profile,
    fills,
    overrides: [...input.settingsOverrides, ...(req.overrides ?? [])],
  });
  // Nothing below, nor the disk and GPU memory math after it, may read a NaN.
  const values = checkTrainValues(built.config, input.modelFacts);
  if (values.problems.length) throw optionsError(values.problems);
  const config: TrainConfig = values.config;
  if (req.evalDataset && config.eval_steps === undefined) config.eval_steps = config.save_steps ?? 500;
  // GPU profiles say `preprocessing_num_workers: auto`: one tokenizing process per core, at most 16.
  if (config.preprocessing_num_workers === 'auto') config.preprocessing_num_workers = autoPreprocessingWorkers(input.cores);
  return { request: req, profile, config };
}

/** One thread per process for the CPU side of GPU runs (tokenizing workers, loader workers). */
export const GPU_THREAD_ENV: Record<string, string> = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false' };

/** The facts the rest of a plan is decided from, gathered once the config is built. */
export interface RunPlanFacts {
  id: string;
  request: TrainRequest;
  profile: Profile;
  /** The config with the distributed plan's keys and the tokenized cache applied. */
  config: TrainConfig;
  modelDir: string;
  trainYaml: string;
  distributed: DistributedPlan;
  command: string[];
  gpus: readonly PlanGpu[];
  /** Warnings about GPUs other processes are using. */
  busyGpus: readonly string[];
  vram: { estimate: VramEstimate | null; warnings: readonly string[] };
  /** Rows of the datasets, each capped at max_samples. */
  rows: number;
  /** The model's text config (config.json), when it has one: the disk estimate needs it. */
  textConfig: TextConfig | null;
  freeBytes: number;
  /** The config's output_dir, absolute. */
  outputDir: string;
  /** This process's environment: thread settings the user made are kept. */
  env: Readonly<Record<string, string | undefined>>;
  /** The trackers report_to names: their findings (missing packages) and environment (core/trackers.ts). */
  tracking?: Pick<TrackerPlan, 'env' | 'findings'>;
}

/** Everything decided from the facts: the findings (PROFILE_TOO_BIG, GPU_BUSY, VRAM_TOO_SMALL, DISK_TOO_SMALL), steps, disk, environment, YAML. */
export function planRunFromFacts(f: RunPlanFacts): Omit<RunPlan, 'time'> {
  const { config, profile, request: req } = f;
  const findings = [...lintTrainConfig(config, { hasGpu: f.gpus.length > 0 }), ...(f.tracking?.findings ?? [])];
  if (profile.vramGiB > 0 && f.gpus.length) {
    const smallest = Math.min(...f.gpus.map((g) => g.memoryTotalMiB ?? Infinity)) / 1024;
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
  for (const w of f.busyGpus) findings.push(finding('GPU_BUSY', 'warn', w, undefined, 'GPU'));
  for (const w of f.vram.warnings) findings.push(finding('VRAM_TOO_SMALL', 'warn', w, 'pick a smaller profile or lower the batch', 'VRAM'));

  const o = trainOptions(config);
  // val_size splits the training data: a fraction below 1, a row count above.
  const valSize = o.val_size;
  const samples = valSize > 0 ? Math.max(1, valSize < 1 ? Math.round(f.rows * (1 - valSize)) : f.rows - valSize) : f.rows;
  const steps = totalSteps(
    samples,
    o.per_device_train_batch_size,
    o.gradient_accumulation_steps,
    o.num_train_epochs,
    f.distributed.worldSize,
    o.max_steps ?? undefined,
  );
  let disk: DiskPlan | null = null;
  if (f.textConfig) {
    const saves = Math.floor(steps / o.save_steps);
    disk = planDisk(loraParamCount(f.textConfig, o.lora_rank), o.save_total_limit, saves, f.freeBytes, {
      saveOnlyModel: o.save_only_model,
    });
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

  const { outputDir } = f;
  const env: Record<string, string> = {
    LLAMABOARD_ENABLED: '1',
    // An --set output_dir=… override moves the whole output, running_log.txt included.
    LLAMABOARD_WORKDIR: outputDir,
    PYTHONUNBUFFERED: '1',
    HF_HUB_OFFLINE: '1',
  };
  if (f.gpus.length) {
    // The image processor of every tokenizing process and loader worker runs torch CPU ops with one thread per core:
    // 16 workers x 16 threads made "Running tokenizer on dataset" 12 samples/s on 16 cores; one thread each, 308
    // (bench/results/gpu-train.md). The GPU trainer itself needs no CPU threads. A value the user set is kept.
    const kept = [...Object.keys(GPU_THREAD_ENV), ...Object.keys(profile.env ?? {})].filter((k) => f.env[k] !== undefined);
    Object.assign(env, GPU_THREAD_ENV, profile.env ?? {}, Object.fromEntries(kept.map((k) => [k, f.env[k]!])));
    env.RECORD_VRAM = '1';
    // CUDA's default order differs from nvidia-smi's on mixed hosts; PCI order makes --gpus indices match the GPU panel.
    env.CUDA_DEVICE_ORDER = 'PCI_BUS_ID';
  }
  Object.assign(env, f.distributed.env, f.tracking?.env ?? {});
  if (config.deepspeed) env.FORCE_TORCHRUN = '1';
  const line = commandLine(f.command, env);
  return {
    id: f.id,
    config,
    yaml: toYaml(config, `written by medtune for run ${f.id} (profile ${req.profile}); launched as:\n  ${line}`),
    command: f.command,
    env,
    commandLine: line,
    outputDir,
    profile,
    profileName: req.profile,
    modelDir: f.modelDir,
    samples,
    totalSteps: steps,
    disk,
    vram: f.vram.estimate,
    findings,
    distributed: f.distributed,
  };
}

/** The findings that stop a launch: every `fail`, except NEEDS_GPU for a dry run (`forLaunch: false`). */
export function blockingFindings(findings: readonly Finding[], forLaunch: boolean): Finding[] {
  return findings.filter((f) => f.severity === 'fail' && (forLaunch || f.code !== 'NEEDS_GPU'));
}

/** The one error for a plan that may not launch: the first blocking finding, the others as details. */
export function blockingError(blocking: readonly Finding[]): MedtuneError {
  const first = blocking[0];
  return new MedtuneError({
    doing: first?.code === 'DISK_TOO_SMALL' ? 'checking free disk for checkpoints' : 'checking the train config',
    problem: first?.message ?? 'the plan did not pass its checks',
    details: blocking.slice(1).map((f) => (f.next ? `${f.message} (${f.next})` : f.message)),
    next: first?.next ?? 'change the profile or the --set overrides',
    code: first?.code === 'DISK_TOO_SMALL' ? 'DISK_TOO_SMALL' : 'BAD_CONFIG',
  });
}
