/**
 * Planning and starting a training run, with one policy for everything the user did not choose:
 * choice > medtune.yaml > this machine (the profile by GPU memory) > medtune's default, and the held-out
 * `<dataset>_val` entry as the eval dataset whenever `data prepare` registered one.
 */
import { VAL_SUFFIX } from '../core/dataset.js';
import { MedtuneError } from '../core/errors.js';
import { finding, type Finding } from '../core/findings.js';
import { mixOverrides, type DatasetWeight } from '../core/mix.js';
import { modelTrainValues, TINY_MODEL_DIR } from '../core/models.js';
import type { RunManifest } from '../core/run.js';
import { wallTimeText } from '../core/walltime.js';
import { chooseProfile, overridesOf, parseOverride } from '../core/trainconfig.js';
import { checkDataset, listDatasets } from '../runtime/datasets.js';
import { join } from 'node:path';
import { queueEntry, startQueued } from './queue.js';
import { launchRun } from '../runtime/launch.js';
import { loadProfiles, planRun, preflight } from '../runtime/planner.js';
import type { DistributedRequest } from '../core/distributed.js';
import { blockingError, blockingFindings, type RunPlan, type TrainRequest } from '../core/runplan.js';
import { runLeaves } from '../runtime/checkpoints.js';
import { readManifest, resolveRunDir } from '../runtime/manifest.js';
import { readSettings } from '../runtime/settings.js';
import { markWorkspace } from '../runtime/workspace.js';
import type { App } from './context.js';
import { ignoreProgress, type OnProgress } from './events.js';

/**
 * What a person chose, in the CLI's flags or the TUI's form; everything left out is decided by policy.
 * gpus, nproc, nnodes, nodeRank, master, engine, rayWorkers: how many processes on which nodes (core/distributed.ts).
 */
export interface TrainChoices extends DistributedRequest {
  /** A name under models/, a path, or a known model name. */
  model?: string;
  /** Names, or names with mixing weights (unequal weights interleave). */
  datasets?: (string | DatasetWeight)[];
  /** undefined: `<dataset>_val` of each dataset that has one; null: no eval dataset. */
  evalDataset?: string | null;
  profile?: string;
  /** LLaMA-Factory `key=value` overrides, after medtune.yaml's. */
  overrides?: string[];
  autoResume?: number;
  name?: string;
  /** A run whose saved adapter the new run starts from (LLaMA-Factory's adapter_name_or_path); its model and datasets by default. */
  from?: string;
}

/** What a form shows before anything is chosen (the same defaults a bare `medtune train` uses). */
export interface TrainDefaults {
  model: string;
  datasets: string[];
  profile: string;
}

export async function trainDefaults(app: App): Promise<TrainDefaults> {
  const settings = await readSettings(app.ws);
  const profiles = await loadProfiles();
  const gpus = await app.gpus();
  return {
    model: settings.model ?? TINY_MODEL_DIR,
    datasets: settings.datasets ?? [],
    profile:
      settings.profile ??
      chooseProfile(
        profiles,
        gpus.map((g) => (g.memoryTotalMiB ?? 0) / 1024),
      ),
  };
}

const nameOf = (d: string | DatasetWeight) => (typeof d === 'string' ? d : d.name);

/** The one TrainRequest a set of choices means, from either face. */
export async function resolveTrainRequest(app: App, choices: TrainChoices): Promise<TrainRequest> {
  const from = choices.from === undefined ? null : await startingAdapter(app, choices.from);
  const defaults = await trainDefaults(app);
  if (from) Object.assign(defaults, { model: from.model, datasets: from.datasets });
  const datasets = choices.datasets?.length ? choices.datasets : defaults.datasets;
  const names = datasets.map(nameOf);
  const weighted = datasets.filter((d): d is DatasetWeight => typeof d !== 'string');
  const model = choices.model ?? defaults.model;
  // The model's own values (the tiny model's rank and rate) sit between the profile and medtune.yaml's overrides.
  const settings = (await readSettings(app.ws)).overrides ?? [];
  const set = new Set([...settings, ...(choices.overrides ?? [])].map((o) => parseOverride(o)[0]));
  const policy = overridesOf(Object.fromEntries(Object.entries(modelTrainValues(model)).filter(([k]) => !set.has(k))));
  const overrides = [
    ...policy,
    ...(from ? [`adapter_name_or_path=${from.adapter}`] : []),
    ...(choices.overrides ?? []),
    ...(weighted.length === datasets.length ? mixOverrides(weighted) : []),
  ];
  return {
    model,
    datasets: names,
    evalDataset: choices.evalDataset === undefined ? await heldOutEvalDataset(app, names, overrides) : (choices.evalDataset ?? undefined),
    profile: choices.profile ?? defaults.profile,
    overrides,
    gpus: choices.gpus,
    nproc: choices.nproc,
    engine: choices.engine,
    nnodes: choices.nnodes,
    nodeRank: choices.nodeRank,
    master: choices.master,
    rayWorkers: choices.rayWorkers,
    autoResume: choices.autoResume,
    name: choices.name,
  };
}

/** The adapter a run left (at a graceful stop, at its end, or in a checkpoint), for `train --from`. */
async function startingAdapter(app: App, ref: string): Promise<{ adapter: string; model: string; datasets: string[] }> {
  const m = await readManifest(await resolveRunDir(app.ws, ref));
  if (!m)
    throw new MedtuneError({
      doing: `starting from run ${ref}`,
      problem: 'its run.json is missing',
      next: 'check `medtune runs`',
      code: 'NO_RUN',
    });
  const leaves = await runLeaves(m);
  if (!leaves.adapter) {
    throw new MedtuneError({
      doing: `starting from run ${m.id}`,
      problem: `${m.outputDir} holds no adapter (no adapter_model.safetensors in it or in a checkpoint)`,
      next: leaves.checkpoint ? `continue it with \`medtune resume ${m.id}\`` : 'start a new run with `medtune train`',
      code: 'NO_ADAPTER',
    });
  }
  return { adapter: leaves.adapter, model: m.model, datasets: m.datasets };
}

/**
 * The `_val` entries of the chosen datasets, joined, when registered. None when the run splits its own
 * validation set (val_size): LLaMA-Factory refuses val_size together with eval_dataset.
 */
async function heldOutEvalDataset(app: App, datasets: string[], overrides: string[]): Promise<string | undefined> {
  const settings = await readSettings(app.ws);
  const valSize = [...(settings.overrides ?? []), ...overrides]
    .map(parseOverride)
    .filter(([k]) => k === 'val_size')
    .pop()?.[1];
  if (Number(valSize ?? 0) > 0) return undefined;
  const listed = new Set((await listDatasets(app.ws)).map((l) => l.entry));
  const vals = datasets.map((d) => `${d}${VAL_SUFFIX}`).filter((v) => listed.has(v));
  return vals.length ? vals.join(',') : undefined;
}

/** Datasets up to this many rows are checked row by row during a pre-flight; bigger ones on request (`data check`). */
export const CHECK_ROWS_UP_TO = 5000;

export interface PlanOptions {
  /** false for a dry run: GPU-only settings pass on a machine without a GPU. Default true. */
  forLaunch?: boolean;
  /** Check every row of the datasets when they have at most CHECK_ROWS_UP_TO samples (bigger ones: a warning). */
  checkRows?: boolean;
  onProgress?: OnProgress;
  signal?: AbortSignal;
}

export interface TrainPlanResult {
  request: TrainRequest;
  plan: RunPlan;
  /** The plan's own findings, the row checks, and LLaMA-Factory's parser as the last one. */
  findings: Finding[];
  /** The findings that stop this launch (for a dry run: all but NEEDS_GPU). */
  blocking: Finding[];
  /** Nothing blocks a launch. */
  ok: boolean;
  /** LLaMA-Factory's own refusal, whole (code, details), when its parser refused the config. */
  parserError: MedtuneError | null;
}

/** The error a face reports for a plan that may not launch. */
export function planError(r: TrainPlanResult): MedtuneError {
  if (r.blocking[0]?.code === 'PARSER_REFUSED' && r.parserError) return r.parserError;
  return blockingError(r.blocking);
}

/** Builds the config and checks it (medtune's checks, then LLaMA-Factory's parser); writes no run folder. */
export async function planTrain(app: App, choices: TrainChoices, opts: PlanOptions = {}): Promise<TrainPlanResult> {
  const onProgress = opts.onProgress ?? ignoreProgress;
  const forLaunch = opts.forLaunch ?? true;
  const request = await resolveTrainRequest(app, choices);
  onProgress({ phase: 'planning', done: 0, total: null, message: 'building the train config' });
  const venv = await app.venv();
  const plan = await planRun(app.ws, venv, request, { gpus: await app.gpus() });
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const about = (subject: string) => plan.findings.filter((f) => f.subject === subject);
  const findings: Finding[] = [
    finding('SCHEDULE', 'ok', `${plan.samples} samples → ${plan.totalSteps} steps`, undefined, 'schedule'),
    ...(plan.time ? [finding('WALL_TIME', 'ok', wallTimeText(plan.time, plan.distributed.worldSize), undefined, 'time')] : []),
    ...(about('disk').length
      ? about('disk')
      : [
          plan.disk
            ? finding('DISK_FITS', 'ok', `needs ~${gib(plan.disk.neededBytes)}, ${gib(plan.disk.freeBytes)} free`, undefined, 'disk')
            : finding('DISK_UNKNOWN', 'warn', 'no estimate (the model config has no text config)', undefined, 'disk'),
        ]),
    ...(about('VRAM').length
      ? about('VRAM')
      : [
          plan.profile.vramGiB > 0
            ? finding('PROFILE_FITS', 'ok', `profile sized for ${plan.profile.vramGiB} GB cards`, undefined, 'VRAM')
            : finding('PROFILE_FITS', 'ok', 'CPU profile: no GPU memory needed', undefined, 'VRAM'),
        ]),
    ...plan.findings.filter((f) => f.subject !== 'disk' && f.subject !== 'VRAM'),
  ];
  const rowLimit = opts.checkRows ? CHECK_ROWS_UP_TO : 0;
  if (rowLimit > 0 && plan.samples <= rowLimit) {
    for (const name of request.datasets) {
      const r = await checkDataset(app.ws, venv, name, (p) => onProgress({ ...p, phase: `checking ${name}` }), opts.signal);
      findings.push(
        r.ok
          ? finding('DATASET_ROWS_OK', 'ok', `${r.rows} rows, all usable`, undefined, `dataset ${name}`)
          : finding(
              'DATASET_BAD_ROWS',
              'fail',
              `${r.bad_rows} of ${r.rows} rows are bad`,
              '`medtune data check` (Data screen › c) shows which rows',
              `dataset ${name}`,
            ),
      );
    }
  } else if (rowLimit > 0) {
    findings.push(
      finding(
        'DATASET_ROWS_UNCHECKED',
        'warn',
        `${plan.samples} rows: not checked here`,
        '`medtune data check` (Data screen › c) checks every row',
        'datasets',
      ),
    );
  }
  let parserError: MedtuneError | null = null;
  // LLaMA-Factory's parser takes seconds: only when nothing else stops the launch.
  if (!blockingFindings(findings, forLaunch).length) {
    try {
      await preflight(
        app.ws,
        venv,
        plan,
        (_phase, message) => onProgress({ phase: "LLaMA-Factory's parser", done: 0, total: null, message }),
        { forLaunch },
      );
      findings.push(finding('PARSER_OK', 'ok', 'its parser accepted every key', undefined, 'LLaMA-Factory'));
    } catch (err) {
      if (!(err instanceof MedtuneError)) throw err;
      parserError = err;
      findings.push(finding('PARSER_REFUSED', 'fail', err.problem, err.next, 'LLaMA-Factory'));
    }
  }
  const blocking = blockingFindings(findings, forLaunch);
  return { request, plan, findings, blocking, ok: blocking.length === 0, parserError };
}

export interface StartOptions {
  /** A plan of the same choices that already passed (its parser check is not repeated). */
  checked?: TrainPlanResult;
  onProgress?: OnProgress;
  /** Queue the run instead of starting it (app/experiments.ts starts it when its turn comes). */
  queue?: { after?: string; sweep?: string };
}

/** Plans, checks and launches a run under its detached supervisor; resolves once it is started. */
export async function startTrain(
  app: App,
  choices: TrainChoices,
  opts: StartOptions = {},
): Promise<{ manifest: RunManifest; plan: RunPlan }> {
  const onProgress = opts.onProgress ?? ignoreProgress;
  const venv = await app.venv();
  let request: TrainRequest;
  let plan: RunPlan;
  if (opts.checked?.ok) {
    request = opts.checked.request;
    // A fresh plan: a new run id and timestamp, the same config.
    plan = await planRun(app.ws, venv, request, { gpus: await app.gpus() });
    const hard = blockingFindings(plan.findings, true);
    if (hard.length) await preflight(app.ws, venv, plan);
  } else {
    request = await resolveTrainRequest(app, choices);
    onProgress({ phase: 'planning', done: 0, total: null, message: 'building the train config' });
    plan = await planRun(app.ws, venv, request, { gpus: await app.gpus() });
    await preflight(app.ws, venv, plan, (_phase, message) => onProgress({ phase: 'checking', done: 0, total: null, message }));
  }
  if (opts.queue) {
    onProgress({ phase: 'queueing', done: 0, total: null, message: 'adding the run to the queue' });
    const queued = await launchRun(app.ws, venv, request, plan, await queueEntry(app, request, plan, opts.queue));
    // Its turn may have come already (nothing else runs).
    await startQueued(app);
    return { manifest: (await readManifest(join(app.ws.runsDir, queued.id))) ?? queued, plan };
  }
  onProgress({ phase: 'launching', done: 0, total: null, message: 'starting the supervisor' });
  await markWorkspace(app.ws);
  const manifest = await launchRun(app.ws, venv, request, plan);
  return { manifest, plan };
}
