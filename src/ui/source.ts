/**
 * WorkspaceSource: the only way the TUI reads the workspace and acts on it. Plain data in, plain data out,
 * so screens render the same from the real runtime (runtime-source.ts) and from an in-memory fake in tests.
 *
 * Semantics:
 * - Reads (`list*`, `readRun`, `readLog`, `previewDataset`…) are snapshots. They must be cheap and safe to
 *   repeat: the UI polls them (about once a second for what changes, once on open for what doesn't) and never
 *   awaits them during a render.
 * - Actions that start a run (`startTrain`, `resumeRun`, `runDemo`) resolve once the run is launched and
 *   detached, not when it ends; the run's progress is then read back with `readRun`.
 * - Long actions that the TUI itself waits for (`prepareData`, `exportRun`, `compare`, `planTrain`) report
 *   progress through `onProgress` and stop early when `signal` aborts.
 * - Failures reject with a MedtuneError (doing / problem / next), which the screen shows in place.
 */
import type { Comparison } from '../core/runcompare.js';
import type { ContinueAdvice, RunView } from '../core/run.js';
import type { RgbImage } from '../core/halfblock.js';
import type { DatasetWeight } from '../core/mix.js';
import type { FieldValue } from '../core/trainform.js';
import type { GgufType } from '../core/gguf.js';

export type { RunView, RgbImage, DatasetWeight };

export interface Progress {
  phase: string;
  done: number;
  total: number | null;
  message?: string;
}
export type OnProgress = (p: Progress) => void;

export interface WorkspaceInfo {
  root: string;
  /** Short name for the title bar (the folder name). */
  name: string;
}

export type CheckLevel = 'ok' | 'warn' | 'fail';

/** One line of a pre-flight, dataset check or export verification. */
export interface CheckItem {
  name: string;
  level: CheckLevel;
  detail: string;
  next?: string;
}

export interface DatasetSummary {
  /** The key in dataset_info.json. */
  name: string;
  /** The file LLaMA-Factory reads, relative to data/. */
  file: string;
  rows: number | null;
  valRows: number | null;
  images: number | null;
  /** Rows per imaging modality (CT, MR, X-ray…), from the dataset's manifest. */
  modalities: Record<string, number>;
  /** Where the rows came from (a source id or path). */
  source: string | null;
  createdAt: string | null;
  bytes: number | null;
}

/** A place `prepare` can read from. */
export interface DataSource {
  id: string;
  label: string;
  description: string;
  /** False when it cannot be used on this machine (e.g. no local copy); `detail` says why. */
  available: boolean;
  detail?: string;
  /** The dataset name `data prepare` gives it without --name ('' for a path source: it follows the path). */
  defaultName: string;
  /** The user gives a path (a folder, parquet files, DICOM/NIfTI scans); it is the source passed on. */
  path?: boolean;
}

export interface PrepareRequest {
  source: string;
  /** The dataset_info.json entry to create or replace. */
  name: string;
  /** How many rows to take; null = all. */
  limit: number | null;
  /** Share of rows written to val.jsonl. */
  valRatio: number;
}

export interface DatasetSample {
  index: number;
  split: 'train' | 'val';
  question: string;
  answer: string;
  imagePaths: string[];
  /** The first image, decoded and downscaled for the terminal; null when it cannot be read. */
  image: RgbImage | null;
  modality: string | null;
}

export interface DatasetPreview {
  name: string;
  /** Rows in the split. */
  total: number;
  samples: DatasetSample[];
}

export interface PreviewRequest {
  offset: number;
  count: number;
  /** Largest image side to decode, in pixels; the preview never needs more than a few dozen. */
  maxSide: number;
}

export interface DatasetCheck {
  name: string;
  ok: boolean;
  rows: number;
  checks: CheckItem[];
}

export interface ModelSummary {
  name: string;
  path: string;
  kind: 'base' | 'tiny' | 'export';
  /** LLaMA-Factory chat template name. */
  template: string | null;
  bytes: number | null;
}

export interface ProfileSummary {
  name: string;
  description: string;
  /** Form values this profile sets (LLaMA-Factory keys). */
  defaults: Record<string, FieldValue>;
}

export interface TrainParams {
  model: string;
  datasets: DatasetWeight[];
  profile: string;
  /** LLaMA-Factory keys set in the form, on top of the profile. */
  overrides: Record<string, FieldValue>;
  /** GPU indices for the run (`--gpus`); absent: every GPU of the host, one process each. */
  gpus?: string;
}

export interface TrainPlan {
  yaml: string;
  /** argv of the command the supervisor will run. */
  command: string[];
  checks: CheckItem[];
  /** False when a check failed and launching would fail too. */
  ok: boolean;
  /** Processes and effective batch: "ddp: 2 process(es); effective batch 2 × 4 × 8 = 64". */
  scale?: string;
}

export interface StopResult {
  status: string;
  advice: ContinueAdvice | null;
}

export interface LaunchResult {
  runId: string;
  /** The supervised job that started the run and goes on after it (the demo), when there is one. */
  jobId?: string;
}

/** What the Train form starts from: medtune.yaml's choices, else the profile that fits this machine's GPUs. */
export interface TrainDefaults {
  model: string;
  datasets: string[];
  profile: string;
}

export interface LogTail {
  /** The newest lines of the run's stdout and stderr, oldest first. */
  lines: string[];
}

export interface ExportRequest {
  runId: string;
  /** A checkpoint step, or null for the final adapter. */
  checkpoint: number | null;
  /** Folder name under exports/. */
  name: string;
  device: 'cpu' | 'auto';
  /** Shard size in GB. */
  shardSizeGB: number;
  /** Also write GGUF files of this type (llama.cpp, Ollama, LM Studio); null for none. */
  gguf: GgufType | null;
}

/** One GGUF type for a run's model, as the Export screen offers it before anything is written. */
export interface GgufChoice {
  type: GgufType;
  modelBytes: number;
  mmprojBytes: number;
  /** Memory to run it (weights, mmproj, a 4k-token KV cache). */
  memoryBytes: number;
  quality: string;
  /** Why the model's shapes cannot take it, and the type that works; null when they can. */
  refusal: { problem: string; instead: GgufType } | null;
}

export interface ExportResult {
  name: string;
  dir: string;
  ok: boolean;
  /** The verification: files present, loads with its processor and chat template, answers a prompt. */
  checks: CheckItem[];
}

export interface ExportSummary {
  name: string;
  dir: string;
  runId: string | null;
  ok: boolean | null;
}

/** A model to answer with: a base model, an export, or a run's adapter on its base. */
export type AnswerModel =
  | { kind: 'model'; name: string }
  | { kind: 'export'; name: string }
  | { kind: 'run'; id: string; checkpoint: number | null };

export interface CompareRequest {
  base: AnswerModel;
  tuned: AnswerModel;
  dataset: string;
  /** Row indices in the dataset's val split (train when it has none). */
  samples: number[];
  /** The question; empty = each sample's own question. */
  prompt: string;
  maxNewTokens: number;
}

export interface CompareItem {
  sample: number;
  question: string;
  reference: string | null;
  base: string;
  tuned: string;
  image: RgbImage | null;
}

/** Who answered on one side, and how that side scored over all items (when references exist). */
export interface CompareSide {
  label: string;
  /** e.g. "modality 3/4 · ROUGE-L 0.31"; null when nothing could be scored. */
  score: string | null;
}

export interface CompareResult {
  base: CompareSide;
  tuned: CompareSide;
  items: CompareItem[];
  /** The dataset entry the questions came from (its held-out `_val` split when it has one). */
  dataset: string | null;
}

export interface StopOptions {
  /** false: graceful (save at the next step); true: kill the process tree now. */
  now: boolean;
}

/** A process on a GPU as the GPU screen shows it: who runs it, what it is, and the run it belongs to. */
export interface GpuProcessInfo {
  pid: number;
  /** The user it runs as; null when the process is not visible from here (another pid namespace). */
  user: string | null;
  /** Its command line; null when not visible. */
  command: string | null;
  /** The going run of this workspace whose process tree holds it; null for any other process (not killable here). */
  runId: string | null;
}

/** SIGTERM asks the process to end; SIGKILL ends it at once. */
export type ProcessSignal = 'SIGTERM' | 'SIGKILL';

export interface WorkspaceSource {
  info(): WorkspaceInfo;

  listRuns(): Promise<RunView[]>;
  readRun(id: string): Promise<RunView>;
  /** Runs side by side (`medtune runs compare`): curves, the parameters that differ, results and scores. */
  compareRuns(ids: string[]): Promise<Comparison>;
  readLog(id: string, lines: number): Promise<LogTail>;
  startTrain(params: TrainParams): Promise<LaunchResult>;
  /** Stops a run; what it left and the commands that continue it (none for a run that completed meanwhile). */
  stopRun(id: string, opts: StopOptions): Promise<StopResult>;
  resumeRun(id: string): Promise<LaunchResult>;
  /** The form's starting choices, decided as `medtune train` decides them. */
  trainDefaults(): Promise<TrainDefaults>;
  /** Pre-flight: YAML and command preview, LLaMA-Factory's parser, dataset check, VRAM and disk estimate. */
  planTrain(params: TrainParams, onProgress: OnProgress, signal?: AbortSignal): Promise<TrainPlan>;
  listProfiles(): Promise<ProfileSummary[]>;

  listDatasets(): Promise<DatasetSummary[]>;
  listDataSources(): Promise<DataSource[]>;
  prepareData(req: PrepareRequest, onProgress: OnProgress, signal?: AbortSignal): Promise<DatasetSummary>;
  previewDataset(name: string, req: PreviewRequest): Promise<DatasetPreview>;
  checkDataset(name: string, onProgress: OnProgress, signal?: AbortSignal): Promise<DatasetCheck>;

  listModels(): Promise<ModelSummary[]>;

  listExports(): Promise<ExportSummary[]>;
  exportRun(req: ExportRequest, onProgress: OnProgress, signal?: AbortSignal): Promise<ExportResult>;
  /** The GGUF types a run's model can be exported to, with sizes: cheap (reads config.json). */
  planGguf(runId: string): Promise<GgufChoice[]>;

  compare(req: CompareRequest, onProgress: OnProgress, signal?: AbortSignal): Promise<CompareResult>;

  /**
   * Starts the demo as a supervised job (sample data, tiny model, a run, then export, verification and a
   * learning check, which go on after the TUI quits); resolves once its training run exists.
   */
  runDemo(onProgress: OnProgress, signal?: AbortSignal): Promise<LaunchResult>;

  /** Owner, command line and run of each of these processes (the pids the GPU monitor lists). */
  describeProcesses(pids: readonly number[]): Promise<GpuProcessInfo[]>;
  /**
   * Signals one process of a going run of this workspace; rejects (NOT_RUN_PROCESS) for any other process, checked
   * again at the moment of the kill. Resolves with the run it belonged to.
   */
  killProcess(pid: number, signal: ProcessSignal): Promise<{ runId: string }>;

  /** Lets go of watchers and timers; called once when the TUI closes. */
  close(): Promise<void>;
}
