/** A training run as medtune records it (runs/<id>/run.json) and as every viewer sees it (RunView). */
import { z } from 'zod';

export const RunStatus = z.enum(['queued', 'preparing', 'training', 'saving', 'stopping', 'stopped', 'failed', 'completed']);
export type RunStatus = z.infer<typeof RunStatus>;

export const TERMINAL_STATUSES: readonly RunStatus[] = ['stopped', 'failed', 'completed'];

/** How every attempt's banner starts in stdout.log and stderr.log (the supervisor writes it, readers split on it). */
export const ATTEMPT_MARK = '===== medtune attempt';

export function attemptBanner(n: number, at: string, resumeFrom?: string): string {
  return `\n${ATTEMPT_MARK} ${n} started ${at}${resumeFrom ? ` (resuming from ${resumeFrom})` : ''} =====\n`;
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
  pgid: z.number().int().optional(),
  exitCode: z.number().int().nullable().optional(),
  signal: z.string().nullable().optional(),
  /** The checkpoint this attempt resumed from, if any. */
  resumedFrom: z.string().optional(),
  /** The step the attempt started at (0 for a fresh run). */
  startStep: z.number().int().optional(),
  cause: FailureCause.optional(),
});
export type Attempt = z.infer<typeof Attempt>;

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

/** The status of a run (or of any LLaMA-Factory output_dir), as `medtune status --json` prints it. */
export interface RunView {
  id: string;
  dir: string;
  status: RunStatus | 'unknown';
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
  records: TrainerRecord[];
  checkpoints: number[];
  cause: FailureCause | null;
  updatedAt: string | null;
}
