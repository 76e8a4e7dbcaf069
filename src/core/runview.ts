/**
 * One RunView from everything known about a run: its manifest (a medtune run) or nothing (any LLaMA-Factory
 * output_dir), the merged trainer records, the console state, the complete checkpoints and the clock.
 */
import type { PhaseProgress, RunManifest, RunStatus, RunView, TrainerRecord } from './run.js';
import { TERMINAL_STATUSES } from './run.js';
import type { ConsoleState } from './console.js';
import { etaSeconds, paceFromRecords } from './eta.js';
import type { PaceOptions } from './eta.js';

export interface RunViewInput {
  id: string;
  dir: string;
  manifest: RunManifest | null;
  /** The merged series (one record per step), as parseTrainerLog returns it. */
  records: readonly TrainerRecord[];
  console: ConsoleState | null;
  /** Steps of the complete checkpoints. */
  checkpoints: readonly number[];
  /** LLaMA-Factory's end-of-training files in output_dir. */
  results?: { trainResults?: boolean; allResults?: boolean };
  /** When any of the run's logs was last written (ms since the epoch). */
  lastActivityMs?: number | null;
  /** When trainer_log.jsonl was last written: the ETA counts down from there. */
  lastRecordMs?: number | null;
  now: number | Date;
  /** Without a manifest, a run whose logs are older than this is not assumed to be alive (default 900 s). */
  staleAfterSeconds?: number;
  pace?: PaceOptions;
}

function last<T>(records: readonly TrainerRecord[], pick: (r: TrainerRecord) => T | undefined): T | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    const v = r ? pick(r) : undefined;
    if (v !== undefined) return v;
  }
  return null;
}

const isTerminal = (s: RunStatus | 'unknown') => s !== 'unknown' && TERMINAL_STATUSES.includes(s);

function saving(console: ConsoleState | null): boolean {
  return console?.phase?.name.startsWith('saving') ?? false;
}

/** The status of an output_dir nobody recorded: its files are all there is. */
function inferStatus(input: RunViewInput, nowMs: number, step: number, totalSteps: number | null): RunStatus | 'unknown' {
  if (input.results?.trainResults || input.results?.allResults) {
    // A graceful abort (SIGABRT under LLaMA Board) still writes the results, short of max_steps.
    return totalSteps !== null && step > 0 && step < totalSteps ? 'stopped' : 'completed';
  }
  const stale = (input.staleAfterSeconds ?? 900) * 1000;
  const active = input.lastActivityMs !== null && input.lastActivityMs !== undefined && nowMs - input.lastActivityMs < stale;
  if (!active) return 'unknown';
  if (saving(input.console)) return 'saving';
  return input.records.length > 0 || input.console?.trainBar ? 'training' : 'preparing';
}

/** The manifest's status, refined by what the logs show since the supervisor last wrote it. */
function liveStatus(manifest: RunManifest, input: RunViewInput): RunStatus {
  const s = manifest.status;
  if (s !== 'preparing' && s !== 'training' && s !== 'saving') return s;
  if (saving(input.console)) return 'saving';
  if (s === 'preparing' && (input.records.length > 0 || input.console?.trainBar)) return 'training';
  return s;
}

export function buildRunView(input: RunViewInput): RunView {
  const nowMs = typeof input.now === 'number' ? input.now : input.now.getTime();
  const records = input.records;
  const lastRecord = records[records.length - 1];
  const totalSteps = lastRecord?.totalSteps ?? input.console?.totalSteps ?? null;
  let step = lastRecord?.step ?? 0;

  const status = input.manifest ? liveStatus(input.manifest, input) : inferStatus(input, nowMs, step, totalSteps);
  const terminal = isTerminal(status);

  // The training bar moves every step; trainer_log.jsonl only every logging_steps.
  const bar = input.console?.trainBar;
  if (!terminal && bar && bar.total === totalSteps && bar.done > step) step = bar.done;

  const pace = paceFromRecords(records, input.pace);
  let eta: number | null = null;
  if (status === 'completed') eta = 0;
  else if (!terminal) {
    const since = input.lastRecordMs ? (nowMs - input.lastRecordMs) / 1000 : 0;
    eta = etaSeconds(pace, totalSteps, since);
    if (eta === null && bar?.rate && bar.total !== null) eta = Math.max(0, (bar.total - bar.done) / bar.rate);
  }

  let peak: number | null = null;
  for (const r of records) {
    const v = r.vramReserved ?? r.vramAllocated;
    if (v !== undefined && v > 0 && (peak === null || v > peak)) peak = v;
  }

  let phase: PhaseProgress | null = null;
  if (!terminal) {
    phase = input.console?.phase ?? null;
    if (!phase && records.length > 0) phase = { name: 'training', done: step, total: totalSteps };
  }

  const manifest = input.manifest;
  const lastAttempt = manifest?.attempts[manifest.attempts.length - 1];
  let attempts = manifest?.attempts.length ?? 0;
  if (!manifest) for (const r of records) attempts = Math.max(attempts, r.attempt + 1);

  const stamps = [manifest ? Date.parse(manifest.updatedAt) : Number.NaN, input.lastActivityMs ?? Number.NaN].filter(Number.isFinite);
  const updatedAt = stamps.length > 0 ? new Date(Math.max(...stamps)).toISOString() : null;

  return {
    id: manifest?.id ?? input.id,
    dir: input.dir,
    status,
    phase,
    step,
    totalSteps,
    percent: totalSteps ? Math.round((Math.min(step, totalSteps) / totalSteps) * 10_000) / 100 : null,
    epoch: last(records, (r) => r.epoch),
    loss: last(records, (r) => r.loss),
    evalLoss: last(records, (r) => r.evalLoss),
    lr: last(records, (r) => r.lr),
    throughput: pace?.tokensPerSecond ?? last(records, (r) => r.throughput),
    etaSeconds: eta,
    peakVramGiB: peak,
    attempts,
    records: [...records],
    checkpoints: [...input.checkpoints].sort((a, b) => a - b),
    cause: manifest?.cause ?? lastAttempt?.cause ?? null,
    updatedAt,
  };
}
