/**
 * medtune's own time-to-finish estimate.
 *
 * LLaMA-Factory's `remaining_time` divides the time since the attempt began by the global step, which
 * includes the steps done before a resume, so it is far too optimistic after one. Here the pace comes only
 * from the current attempt's records, over a recent window, so a slow start, a resume or a changed machine
 * stop counting once they are out of the window.
 */
import type { TrainerRecord } from './run.js';
import { parseTimedelta } from './trainerlog.js';

/** A point of progress: a step reached at a time (seconds on any clock shared by all samples). */
export interface PaceSample {
  step: number;
  seconds: number;
  /** Input tokens seen so far, when the run counts them. */
  tokens?: number;
}

export interface PaceOptions {
  /** Measure over samples no older than this before the latest one (default 600 s). */
  windowSeconds?: number;
  /** Give no pace over a shorter span: trainer_log.jsonl's times are whole seconds (default 3 s). */
  minSpanSeconds?: number;
}

export interface Pace {
  stepsPerSecond: number;
  /** Input tokens per second over the same window, when both ends counted tokens. */
  tokensPerSecond: number | null;
  /** Samples and seconds the measurement spans. */
  samples: number;
  spanSeconds: number;
  /** The latest sample. */
  last: PaceSample;
}

/** The pace over the recent window of `samples` (in time order); null when there is too little to tell. */
export function measurePace(samples: readonly PaceSample[], opts: PaceOptions = {}): Pace | null {
  const windowSeconds = opts.windowSeconds ?? 600;
  const minSpan = opts.minSpanSeconds ?? 3;
  const last = samples[samples.length - 1];
  if (!last || samples.length < 2) return null;
  let first = samples.length - 2;
  while (first > 0 && last.seconds - (samples[first - 1]?.seconds ?? 0) <= windowSeconds) first--;
  const from = samples[first];
  if (!from) return null;
  const span = last.seconds - from.seconds;
  const steps = last.step - from.step;
  if (span < minSpan || steps <= 0) return null;
  const tokens =
    last.tokens !== undefined && from.tokens !== undefined && last.tokens > from.tokens ? (last.tokens - from.tokens) / span : null;
  return { stepsPerSecond: steps / span, tokensPerSecond: tokens, samples: samples.length - first, spanSeconds: span, last };
}

/**
 * Seconds until `totalSteps` at `pace`. `secondsSinceLast` (time since the latest sample was taken) is
 * subtracted so a display refreshed between records counts down; the result never goes below 0.
 */
export function etaSeconds(pace: Pace | null, totalSteps: number | null, secondsSinceLast = 0): number | null {
  if (!pace || totalSteps === null || pace.stepsPerSecond <= 0) return null;
  const left = Math.max(0, totalSteps - pace.last.step);
  return Math.max(0, left / pace.stepsPerSecond - Math.max(0, secondsSinceLast));
}

/** The attempt the latest record belongs to (-1 when there are none). */
export function currentAttempt(records: readonly TrainerRecord[]): number {
  let attempt = -1;
  for (const r of records) attempt = Math.max(attempt, r.attempt);
  return attempt;
}

/**
 * Pace samples from the records of one attempt (default: the current one), timed by their `elapsed_time`,
 * which LLaMA-Factory measures from that attempt's start.
 */
export function paceSamples(records: readonly TrainerRecord[], attempt = currentAttempt(records)): PaceSample[] {
  const out: PaceSample[] = [];
  for (const r of records) {
    if (r.attempt !== attempt || r.elapsed === undefined) continue;
    const seconds = parseTimedelta(r.elapsed);
    if (seconds === undefined) continue;
    const prev = out[out.length - 1];
    if (prev && (r.step < prev.step || seconds < prev.seconds)) continue;
    out.push(r.totalTokens === undefined ? { step: r.step, seconds } : { step: r.step, seconds, tokens: r.totalTokens });
  }
  return out;
}

/** The current attempt's pace from its trainer records. */
export function paceFromRecords(records: readonly TrainerRecord[], opts: PaceOptions = {}): Pace | null {
  return measurePace(paceSamples(records), opts);
}
