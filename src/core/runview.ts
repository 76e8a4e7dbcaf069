/**
 * One RunView from everything known about a run: its manifest (a medtune run) or nothing (any LLaMA-Factory
 * output_dir), the merged trainer records, the console state, the complete checkpoints and the clock.
 */
import type { PhaseProgress, RunManifest, RunStatus, RunView, TrainerRecord, ViewStatus } from './run.js';
import { TERMINAL_STATUSES } from './run.js';
import type { ConsoleState } from './trainerconsole.js';
import { etaSeconds, paceFromRecords } from './eta.js';
import type { PaceOptions } from './eta.js';
import { summarizeRecords, type TrainerLogSummary } from './trainersummary.js';
import { runScale } from './distributed.js';

/** LLaMA-Factory's end-of-run files in output_dir, as far as they tell the status. */
export interface RunResults {
  trainResults?: boolean;
  allResults?: boolean;
  /** eval_results.json: the final eval of `do_eval` after training, which trainer_log.jsonl never holds. */
  evalResults?: { evalLoss?: number; epoch?: number } | null;
  /** predict_results.json (`do_predict`). */
  predictResults?: boolean;
  /** trainer_state.json of output_dir or of its newest complete checkpoint. */
  trainerState?: { globalStep: number; maxSteps: number } | null;
}

export interface RunViewInput {
  id: string;
  dir: string;
  manifest: RunManifest | null;
  /** The trainer log's summary (trainersummary.ts); or, for short series, `records`. */
  log?: TrainerLogSummary;
  /** The merged series (one record per step), as parseTrainerLog returns it; used when `log` is absent. */
  records?: readonly TrainerRecord[];
  console: ConsoleState | null;
  /** Steps of the complete checkpoints. */
  checkpoints: readonly number[];
  results?: RunResults;
  /** When any of the run's logs was last written (ms since the epoch). */
  lastActivityMs?: number | null;
  /** When trainer_log.jsonl was last written: the ETA counts down from there. */
  lastRecordMs?: number | null;
  /**
   * Whether a process that writes this output_dir is alive (found among the machine's processes), or null when
   * that cannot be told. Only used without a manifest.
   */
  writerAlive?: boolean | null;
  now: number | Date;
  /**
   * Without a manifest and without knowing of a live writer, a run whose logs are older than this has ended
   * (default 900 s).
   */
  staleAfterSeconds?: number;
  pace?: PaceOptions;
}

const isTerminal = (s: ViewStatus) => (TERMINAL_STATUSES as readonly string[]).includes(s);
/** Statuses that give no time to finish: ended, or not known to be moving. */
const NO_ETA: readonly ViewStatus[] = ['stalled', 'ended-unknown', 'unknown'];

function saving(console: ConsoleState | null): boolean {
  return console?.phase?.name.startsWith('saving') ?? false;
}

/** A log is quiet once it has not grown for this many of its usual intervals between records. */
const QUIET_INTERVALS = 10;
const MIN_QUIET_SECONDS = 60;

/** The status of an output_dir nobody recorded: its files are all there is. */
function inferStatus(input: RunViewInput, log: TrainerLogSummary, nowMs: number, step: number, totalSteps: number | null): ViewStatus {
  const r = input.results ?? {};
  const trained = log.loss.points > 0 || log.latest.loss !== null;
  if (r.predictResults && !trained) return 'completed';
  if (r.trainResults || r.allResults) {
    // A graceful abort (SIGABRT under LLaMA Board) still writes the results, short of max_steps.
    return totalSteps !== null && step > 0 && step < totalSteps ? 'stopped' : 'completed';
  }
  if (input.lastActivityMs === null || input.lastActivityMs === undefined) {
    return r.trainerState && r.trainerState.maxSteps > 0 && r.trainerState.globalStep >= r.trainerState.maxSteps ? 'completed' : 'unknown';
  }
  const staleAfter = (input.staleAfterSeconds ?? 900) * 1000;
  const idle = nowMs - input.lastActivityMs;
  const pace = paceFromRecords(log.recent, input.pace);
  const interval = pace && pace.samples > 1 ? pace.spanSeconds / (pace.samples - 1) : null;
  const quietAfter = interval === null ? staleAfter : Math.min(staleAfter, Math.max(MIN_QUIET_SECONDS, QUIET_INTERVALS * interval) * 1000);
  const quiet = idle >= quietAfter;
  // trainer_state.json at max_steps: training went all the way (a process killed while saving the end results).
  const finished =
    r.trainerState !== null &&
    r.trainerState !== undefined &&
    r.trainerState.maxSteps > 0 &&
    r.trainerState.globalStep >= r.trainerState.maxSteps;
  if (quiet) {
    if (finished && input.writerAlive !== true) return 'completed';
    if (input.writerAlive === true) return 'stalled';
    if (input.writerAlive === false) return 'ended-unknown';
    return idle >= staleAfter ? 'ended-unknown' : 'stalled';
  }
  if (saving(input.console)) return 'saving';
  return log.recent.length > 0 || input.console?.trainBar ? 'training' : 'preparing';
}

/** The manifest's status, refined by what the logs show since the supervisor last wrote it. */
function liveStatus(manifest: RunManifest, input: RunViewInput, log: TrainerLogSummary): RunStatus {
  const s = manifest.status;
  if (s !== 'preparing' && s !== 'training' && s !== 'saving') return s;
  if (saving(input.console)) return 'saving';
  if (s === 'preparing' && (log.recent.length > 0 || input.console?.trainBar)) return 'training';
  return s;
}

export function buildRunView(input: RunViewInput): RunView {
  const nowMs = typeof input.now === 'number' ? input.now : input.now.getTime();
  const log = input.log ?? summarizeRecords(input.records ?? []);
  const records = log.recent;
  const lastRecord = records[records.length - 1];
  const totalSteps = lastRecord?.totalSteps ?? input.console?.totalSteps ?? null;
  let step = lastRecord?.step ?? 0;

  const status: ViewStatus = input.manifest ? liveStatus(input.manifest, input, log) : inferStatus(input, log, nowMs, step, totalSteps);
  const terminal = isTerminal(status);

  // The training bar moves every step; trainer_log.jsonl only every logging_steps.
  const bar = input.console?.trainBar;
  if (!terminal && bar && bar.total === totalSteps && bar.done > step) step = bar.done;
  const trained = log.loss.points > 0 || log.latest.loss !== null;
  // A prediction run logs its progress every 5 steps only: once its results are written, it went to the end.
  if (status === 'completed' && !trained && input.results?.predictResults && totalSteps !== null) step = Math.max(step, totalSteps);

  const pace = paceFromRecords(records, input.pace);
  let eta: number | null = null;
  if (status === 'completed') eta = 0;
  else if (!terminal && !NO_ETA.includes(status)) {
    const since = input.lastRecordMs ? (nowMs - input.lastRecordMs) / 1000 : 0;
    eta = etaSeconds(pace, totalSteps, since);
    if (eta === null && bar?.rate && bar.total !== null) eta = Math.max(0, (bar.total - bar.done) / bar.rate);
  }

  let phase: PhaseProgress | null = null;
  if (!terminal && !NO_ETA.includes(status)) {
    phase = input.console?.phase ?? null;
    if (!phase && records.length > 0) phase = { name: trained ? 'training' : 'predicting', done: step, total: totalSteps };
  }

  const manifest = input.manifest;
  const lastAttempt = manifest?.attempts[manifest.attempts.length - 1];
  const attempts = manifest ? manifest.attempts.length : log.attempts;

  const stamps = [manifest ? Date.parse(manifest.updatedAt) : Number.NaN, input.lastActivityMs ?? Number.NaN].filter(Number.isFinite);
  const updatedAt = stamps.length > 0 ? new Date(Math.max(...stamps)).toISOString() : null;
  const finalEval = input.results?.evalResults?.evalLoss;
  const r = input.results ?? {};

  return {
    id: manifest?.id ?? input.id,
    dir: input.dir,
    status,
    phase,
    step,
    totalSteps,
    percent: totalSteps ? Math.round((Math.min(step, totalSteps) / totalSteps) * 10_000) / 100 : null,
    epoch: log.latest.epoch ?? input.results?.evalResults?.epoch ?? null,
    loss: log.latest.loss,
    evalLoss: finalEval ?? log.latest.evalLoss,
    lr: log.latest.lr,
    throughput: pace?.tokensPerSecond ?? log.latest.throughput,
    etaSeconds: eta,
    peakVramGiB: log.peakVramGiB,
    attempts,
    writers: log.writers,
    recordCount: log.recordCount,
    ...(lastAttempt?.launchRetry ? { launchRetry: true } : {}),
    ...(manifest ? { scale: runScale(manifest.env, manifest.command) } : {}),
    records: [...records],
    curve: { loss: log.loss, evalLoss: log.evalLoss },
    elapsed: log.latest.elapsed,
    totalTokens: log.latest.totalTokens,
    results: {
      train: Boolean(r.trainResults || (r.allResults && !r.predictResults)),
      eval: finalEval !== undefined,
      predict: Boolean(r.predictResults),
    },
    checkpoints: [...input.checkpoints].sort((a, b) => a - b),
    cause: manifest?.cause ?? lastAttempt?.cause ?? null,
    updatedAt,
  };
}

/** What `status --json` prints by default: the view without its records and curves (those are bounded but long). */
export type RunViewSummary = Omit<RunView, 'records' | 'curve'>;

export function viewSummary(v: RunView): RunViewSummary {
  const { records: _records, curve: _curve, ...rest } = v;
  return rest;
}
