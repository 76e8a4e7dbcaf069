/** A training run as medtune records it (runs/<id>/run.json) and as every viewer sees it (RunView). */
import { cmd, renderStep, type NextStep } from './nextstep.js';
import { z } from 'zod';

export const RunStatus = z.enum(['queued', 'preparing', 'training', 'saving', 'stopping', 'stopped', 'failed', 'completed', 'cancelled']);
export type RunStatus = z.infer<typeof RunStatus>;

/** `cancelled`: taken off the queue before it started (`medtune stop` on a waiting run). */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['stopped', 'failed', 'completed', 'cancelled'];

/** How every attempt's banner starts in stdout.log and stderr.log (the supervisor writes it, readers split on it). */
export const ATTEMPT_MARK = '===== medtune attempt';

export function attemptBanner(n: number, at: string, resumeFrom?: string, note?: string): string {
  return `\n${ATTEMPT_MARK} ${n} started ${at}${resumeFrom ? ` (resuming from ${resumeFrom})` : ''}${note ? ` (${note})` : ''} =====\n`;
}

export const FailureCause = z.object({
  /** Stable code: CUDA_OOM, HOST_OOM, DISK_FULL, VERSION_CHECK, DATASET_UNDEFINED, IMAGE_MISMATCH, NO_VALID_SAMPLES, PROCESSOR_MISSING, NCCL, KILLED, UNKNOWN… */
  code: z.string(),
  summary: z.string(),
  next: z.string(),
  /** The log line that gave it away, when there is one. */
  evidence: z.string().optional(),
});
export type FailureCause = z.infer<typeof FailureCause>;

export const Attempt = z.object({
  n: z.number().int(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  supervisorPid: z.number().int().optional(),
  pid: z.number().int().optional(),
  /** Who those pids were (boot id, start times), so a later process reusing a number is not taken for them. */
  bootId: z.string().optional(),
  supervisorStartTicks: z.number().optional(),
  pidStartTicks: z.number().optional(),
  pgid: z.number().int().optional(),
  exitCode: z.number().int().nullable().optional(),
  signal: z.string().nullable().optional(),
  /** The checkpoint this attempt resumed from, if any. */
  resumedFrom: z.string().optional(),
  /** The step the attempt started at (0 for a fresh run). */
  startStep: z.number().int().optional(),
  cause: FailureCause.optional(),
  /** Set on an attempt the supervisor started by itself because the one before died at launch leaving nothing behind. */
  launchRetry: z.boolean().optional(),
});
export type Attempt = z.infer<typeof Attempt>;

/**
 * The processes a run owns, as roots of process trees: its newest attempt's supervisor and trainer (the GPU view
 * marks the whole tree of each as the run's). None once the run has ended: its pids may belong to others by now.
 */
export function runRoots(m: { status: RunStatus; attempts: readonly Attempt[] }): { pid: number; startTicks: number | undefined }[] {
  if (TERMINAL_STATUSES.includes(m.status)) return [];
  const last = m.attempts[m.attempts.length - 1];
  if (!last || last.endedAt) return [];
  const roots = [
    { pid: last.supervisorPid, startTicks: last.supervisorStartTicks },
    { pid: last.pid, startTicks: last.pidStartTicks },
  ];
  return roots.filter((r): r is { pid: number; startTicks: number | undefined } => typeof r.pid === 'number' && r.pid > 0);
}

/** The pids of runRoots. */
export function runRootPids(m: { status: RunStatus; attempts: readonly Attempt[] }): number[] {
  return runRoots(m).map((r) => r.pid);
}

/** A failure this soon after launch, with nothing written, is retried once (a flaky import, a library load race). */
export const EARLY_FAILURE_S = 60;

export interface EarlyFailureFacts {
  status: 'completed' | 'failed' | 'stopped';
  seconds: number;
  /** trainer_log.jsonl grew during the attempt. */
  logged: boolean;
  /** A checkpoint newer than the one the attempt started from exists. */
  newCheckpoint: boolean;
  /** The diagnosed cause; configuration and data problems fail the same way every time. */
  causeCode?: string;
  /** This attempt was itself a launch retry. */
  wasRetry: boolean;
  /** What the supervisor ran: a job (the demo's steps) fails on purpose when its run is stopped, and is never retried. */
  kind?: 'train' | 'job';
}

/**
 * Causes a second launch may not meet (a crash in native code, a killed or aborted process, an unrecognised exit
 * such as "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so"). Configuration, data, version and memory
 * problems (CONFIG_INVALID, DATASET_*, VERSION_CHECK, MODULE_MISSING, CUDA_OOM, a PYTHON_ERROR such as a value the
 * model refuses when it is built, …) fail the same way every time.
 */
const TRANSIENT_AT_LAUNCH = new Set(['UNKNOWN', 'NATIVE_CRASH', 'KILLED', 'ABORTED', 'WORKER_FAILED', 'HOST_OOM', 'NCCL']);

/** Whether the supervisor retries a failed attempt once, at once: it died early and left nothing behind. */
export function shouldRetryLaunch(f: EarlyFailureFacts): boolean {
  return (
    f.status === 'failed' &&
    f.kind !== 'job' &&
    !f.wasRetry &&
    f.seconds < EARLY_FAILURE_S &&
    !f.logged &&
    !f.newCheckpoint &&
    (!f.causeCode || TRANSIENT_AT_LAUNCH.has(f.causeCode))
  );
}

export const RunManifest = z.object({
  id: z.string(),
  /** A training run (absent in older run.json files), or a multi-step job (the demo) supervised the same way. */
  kind: z.enum(['train', 'job']).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  status: RunStatus,
  model: z.string(),
  datasets: z.array(z.string()),
  profile: z.string(),
  outputDir: z.string(),
  trainYaml: z.string(),
  command: z.array(z.string()),
  /** Variables set for llamafactory-cli on top of the supervisor's environment (nothing secret). */
  env: z.record(z.string(), z.string()).default({}),
  /** The workspace root, which is the trainer's working directory. */
  cwd: z.string(),
  attempts: z.array(Attempt),
  cause: FailureCause.optional(),
  /** Automatic resumes allowed after a crash (0 = off). */
  autoResume: z.number().int().default(0),
  stopRequested: z.boolean().optional(),
  /**
   * Present while the run waits in the queue (`train --queue`, a sweep): it starts when core/queue.ts says so, and
   * the field is removed as it starts.
   */
  queue: z
    .object({
      queuedAt: z.string(),
      /** The run it waits for (`--after`). */
      after: z.string().optional(),
      /** Pinned GPUs (`--gpus`); null: any `count` free ones. */
      devices: z.array(z.string()).nullable(),
      count: z.number().int(),
    })
    .optional(),
  /** The sweep this run belongs to (sweeps/<id>.json). */
  sweep: z.string().optional(),
  /** The supervisor process now in charge (written when it starts, before its first attempt). */
  supervisor: z.object({ pid: z.number().int(), bootId: z.string().optional(), startTicks: z.number().optional() }).optional(),
});
export type RunManifest = z.infer<typeof RunManifest>;

/** One line of LLaMA-Factory's trainer_log.jsonl, normalised. */
export interface TrainerRecord {
  step: number;
  totalSteps: number;
  loss?: number;
  evalLoss?: number;
  lr?: number;
  epoch?: number;
  percent?: number;
  elapsed?: string;
  remaining?: string;
  throughput?: number;
  totalTokens?: number;
  vramAllocated?: number;
  vramReserved?: number;
  /** Which attempt wrote it (0-based index into attempts, from the order of appends). */
  attempt: number;
}

/** What happens before step 1: loading, dataset conversion, tokenisation (from stderr progress bars). */
export interface PhaseProgress {
  name: string;
  done: number;
  total: number | null;
  /** What the bar's description adds, e.g. `num_proc=16`, or the checkpoint being saved. */
  detail?: string;
  /** The bar's unit: `it`, `examples`. */
  unit?: string;
  /** Units per second, as the bar reports it. */
  ratePerSecond?: number;
  elapsedSeconds?: number;
  /** The bar's own estimate of the time left in this phase. */
  etaSeconds?: number;
}

/**
 * What a view can say of a run. Beyond a recorded run's statuses, for a folder nobody recorded:
 * `stalled` (its log stopped growing for many times its usual interval, while a process that writes it lives),
 * `ended-unknown` (it stopped growing and nothing writes it any more, without results: killed, or the machine went
 * away), `unknown` (nothing tells: no log times at all).
 */
export type ViewStatus = RunStatus | 'stalled' | 'ended-unknown' | 'unknown';

/** Statuses after which a view changes no more by itself. */
export const ENDED_VIEW_STATUSES: readonly ViewStatus[] = [...TERMINAL_STATUSES, 'ended-unknown'];

/** Whether the run is going (or may be): neither ended nor of unknown state. */
export function isLiveStatus(status: ViewStatus): boolean {
  return status !== 'unknown' && !ENDED_VIEW_STATUSES.includes(status);
}

/** A bounded, spike-keeping sample of a curve over steps (core/curve.ts). */
export interface CurveSampleView {
  width: number;
  buckets: Array<{ index: number; count: number; sum: number; sumX: number; min: [number, number]; max: [number, number] }>;
  points: number;
}

/** The status of a run (or of any LLaMA-Factory output_dir), as `medtune status --json` prints it. */
export interface RunView {
  id: string;
  dir: string;
  status: ViewStatus;
  phase: PhaseProgress | null;
  step: number;
  totalSteps: number | null;
  percent: number | null;
  epoch: number | null;
  loss: number | null;
  evalLoss: number | null;
  lr: number | null;
  throughput: number | null;
  etaSeconds: number | null;
  peakVramGiB: number | null;
  attempts: number;
  /** Most processes seen appending to trainer_log.jsonl at once (2: two launches wrote into one folder). */
  writers: number;
  /** Steps logged (one record per step across attempts); `records` holds only the newest of them. */
  recordCount: number;
  /** The latest attempt was the supervisor's own retry of a launch that died leaving nothing behind. */
  launchRetry?: boolean;
  /** How a medtune run is spread: processes, nodes and its GPUs (absent for a folder medtune did not launch). */
  scale?: { processes: number; nodes: number; devices: string[] | null };
  /** The newest merged records (at most 1024), by step: every record of a run of ordinary length. */
  records: TrainerRecord[];
  /** The whole loss and eval-loss curves, downsampled to a bounded number of buckets. */
  curve: { loss: CurveSampleView; evalLoss: CurveSampleView };
  elapsed: string | null;
  totalTokens: number | null;
  /** LLaMA-Factory's result files found in output_dir. */
  results: { train: boolean; eval: boolean; predict: boolean };
  checkpoints: number[];
  cause: FailureCause | null;
  updatedAt: string | null;
}

/** What a stopped (or failed) run leaves, as gathered from its output_dir. */
export interface RunLeaves {
  /** The checkpoint `medtune resume` continues from (optimizer state and all). */
  checkpoint: string | null;
  /** A LoRA adapter to start a new run from (`medtune train --from`): output_dir after a graceful stop, or a checkpoint. */
  adapter: string | null;
}

/** What a run that ended without completing left, and the commands that continue it (best first). */
export interface ContinueAdvice {
  /** What is on disk, one line each. */
  left: string[];
  /** Only commands that work from there: resume from a checkpoint, else a new run from the saved adapter, else a new run. */
  next: { step: NextStep; why: string }[];
}

export function continueAdvice(id: string, leaves: RunLeaves): ContinueAdvice {
  const next: ContinueAdvice['next'] = [];
  if (leaves.checkpoint) next.push({ step: cmd('resume', id), why: 'continues from the checkpoint' });
  if (leaves.adapter) next.push({ step: cmd('train', '--from', id), why: 'a new run that starts from the saved adapter' });
  if (!leaves.checkpoint && !leaves.adapter) next.push({ step: cmd('train'), why: 'a new run' });
  if (leaves.adapter) next.push({ step: cmd('export', id), why: 'merge the adapter as it is' });
  return {
    left: [
      leaves.adapter ? `adapter saved: ${leaves.adapter}` : 'no adapter was saved',
      leaves.checkpoint ? `resumable checkpoint: ${leaves.checkpoint}` : 'no checkpoint to resume from (none was saved before the stop)',
    ],
    next,
  };
}

/** The advice as the CLI prints it; `render` turns a step into the command to paste where the user stands. */
export function continueLines(id: string, leaves: RunLeaves, render: (s: NextStep) => string = (s) => renderStep(s, null)): string[] {
  const a = continueAdvice(id, leaves);
  return [...a.left, ...a.next.map((n, i) => `${i === 0 ? 'continue with' : 'or'}:  ${render(n.step)}   (${n.why})`)];
}

/** The one default name of an export (CLI and TUI): the run id, and `-ckptN` when a checkpoint is merged. */
export function defaultExportName(runId: string, checkpoint: number | null | undefined): string {
  return `${runId}${checkpoint === null || checkpoint === undefined ? '' : `-ckpt${checkpoint}`}`;
}

/** The verbs that use a trained model: for them `latest` is the newest completed run. */
export const MODEL_VERBS = ['eval', 'export', 'ask', 'compare'] as const;

/**
 * What `latest` means for a verb: `eval`, `export`, `ask` and `compare` take the newest completed run (a stopped or
 * failed one only when named); the verbs that watch or steer runs (`status`, `attach`, `stop`, `logs`, `resume`)
 * take the newest run of any status.
 */
export function latestStatuses(verb: string): readonly RunStatus[] | null {
  return (MODEL_VERBS as readonly string[]).includes(verb) ? ['completed'] : null;
}
