/**
 * Reader for LLaMA-Factory's trainer_log.jsonl (one JSON object per Trainer `on_log`).
 *
 * The file is appended to by every attempt of a run (auto-resume reuses it), so the raw lines can repeat and go
 * back in steps. The reader keeps two views: `raw`, every record in file order with the attempt that wrote it,
 * and `records`, the merged series with one record per step, where a later attempt's record replaces an
 * earlier one and the records of one attempt at the same step (training, eval, final summary) are combined.
 */
import type { TrainerRecord } from './run.js';

/** A raw line decoded into a record, before merging. */
export interface RawTrainerRecord extends TrainerRecord {
  /** 0-based line number in the file. */
  line: number;
  /** Seconds since the attempt's training began, from `elapsed_time`. */
  elapsedSeconds?: number;
}

export interface TrainerLogParse {
  /** One record per step, across attempts: the series to plot and to read the latest values from. */
  records: TrainerRecord[];
  /** Every decoded line in file order. */
  raw: RawTrainerRecord[];
  /** How many attempts wrote to the file (0 for an empty file). */
  attempts: number;
  /** The steps each attempt's first record was at, by attempt index. */
  attemptStartSteps: number[];
  /** Most processes seen appending at the same time (see AttemptTracker). */
  writers: number;
  /** Text after the last newline: a line still being written. */
  remainder: string;
  /** Complete lines that were not records (blank lines excluded). */
  skipped: number;
}

/**
 * Python's `str(timedelta)` as LLaMA-Factory writes it: `0:12:34`, `1 day, 2:03:04`, `3 days, 0:00:01`
 * (whole seconds; a fraction is accepted). Returns undefined for anything else.
 */
export function parseTimedelta(text: string): number | undefined {
  const m = /^\s*(?:(-?\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*$/.exec(text);
  if (!m) return undefined;
  const days = m[1] ? Number(m[1]) : 0;
  return days * 86_400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

// Python's json.dumps writes NaN and ±Infinity as bare words, which JSON.parse rejects; a diverged loss must
// still be read (as NaN), not dropped with its whole line.
const NON_FINITE = /(:\s*)(NaN|-?Infinity)(?=\s*[,}])/g;

function parseJsonLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    if (!NON_FINITE.test(line)) return undefined;
    NON_FINITE.lastIndex = 0;
    try {
      return JSON.parse(line.replace(NON_FINITE, '$1"$2"'));
    } catch {
      return undefined;
    }
  }
}

const NUMERIC = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

/**
 * A number as any LLaMA-Factory version wrote it: a JSON number, Python's bare NaN/Infinity (read as strings by
 * parseJsonLine), or a string holding a number (older transformers formatted the logged values: `"loss": "5.227"`).
 * `null` (older versions kept keys whose value was None) and anything else is no value.
 */
export function num(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  if (value === 'NaN' || value === 'nan') return Number.NaN;
  if (value === 'Infinity' || value === 'inf') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity' || value === '-inf') return Number.NEGATIVE_INFINITY;
  return NUMERIC.test(value) ? Number(value) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Decodes one trainer_log.jsonl line; undefined when it is not a record (garbage, half a line, other JSON). */
export function decodeTrainerLine(line: string): Omit<TrainerRecord, 'attempt'> | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  const obj = parseJsonLine(trimmed);
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const o = obj as Record<string, unknown>;
  const step = num(o.current_steps);
  const totalSteps = num(o.total_steps);
  if (step === undefined || totalSteps === undefined || !Number.isInteger(step) || step < 0) return undefined;
  const rec: Omit<TrainerRecord, 'attempt'> = { step, totalSteps };
  const fields: [keyof TrainerRecord, number | string | undefined][] = [
    ['loss', num(o.loss)],
    ['evalLoss', num(o.eval_loss)],
    ['lr', num(o.lr)],
    ['epoch', num(o.epoch)],
    ['percent', num(o.percentage)],
    ['elapsed', str(o.elapsed_time)],
    ['remaining', str(o.remaining_time)],
    ['throughput', num(o.throughput)],
    ['totalTokens', num(o.total_tokens)],
    ['vramAllocated', num(o.vram_allocated)],
    ['vramReserved', num(o.vram_reserved)],
  ];
  for (const [key, value] of fields) {
    if (value !== undefined) (rec as Record<string, unknown>)[key] = value;
  }
  return rec;
}

const MAX_LINE = 1 << 20;

interface Lane {
  attempt: number;
  step: number;
  total: number;
  elapsed: number | undefined;
  /** A training record (with loss) was logged at `step`. */
  lossAtStep: boolean;
  /** Sequence number of its latest record. */
  seq: number;
}

export interface AttemptTrackerState {
  lanes: Array<Omit<Lane, 'elapsed'> & { elapsed: number | null }>;
  seq: number;
  count: number;
  startSteps: number[];
  maxWriters: number;
}

/** What tells whether a record carries on an attempt. */
export interface FirstRecord {
  step: number;
  totalSteps: number;
  loss?: number | undefined;
  elapsedSeconds?: number | undefined;
}

/** Lanes kept to recognise a writer that carries on after another one wrote (two processes on one folder). */
const LANES = 4;
/** A lane that wrote within this many records counts as writing at the same time as the others. */
const CONCURRENT_WINDOW = 64;
/** Attempt start steps kept (the count is exact beyond it). */
const MAX_STARTS = 256;

/**
 * Tells which attempt wrote each record of a trainer_log.jsonl, in file order.
 *
 * Each attempt restarts LLaMA-Factory's clock (on_train_begin), and a resumed one restarts from a checkpoint at
 * or before the last logged step, so a step or elapsed time that goes back, a second training record at the same
 * step, or a changed total means another attempt wrote the line. Two processes appending at once (two launches
 * on one output_dir) make the step run back on nearly every line; a record that carries on where a recent other
 * attempt left off (later step, later clock, same total) is that attempt's, so they stay two attempts (and two
 * `writers`), not one per line.
 */
export class AttemptTracker {
  private lanes: Lane[] = [];
  private seq = 0;
  private count = 0;
  private startSteps: number[] = [];
  private maxWriters = 0;

  /** The tracker as plain data (JSON). */
  state(): AttemptTrackerState {
    return {
      lanes: this.lanes.map((l) => ({ ...l, elapsed: l.elapsed ?? null })),
      seq: this.seq,
      count: this.count,
      startSteps: [...this.startSteps],
      maxWriters: this.maxWriters,
    };
  }

  static from(s: AttemptTrackerState): AttemptTracker {
    const t = new AttemptTracker();
    t.lanes = s.lanes.map(({ elapsed, ...l }) => ({ ...l, elapsed: elapsed ?? undefined }));
    t.seq = s.seq;
    t.count = s.count;
    t.startSteps = [...s.startSteps];
    t.maxWriters = s.maxWriters;
    return t;
  }

  /** The attempt `rec` belongs to, and whether it is the first record of a new attempt. */
  place(rec: { step: number; totalSteps: number; loss?: number; elapsedSeconds?: number }): { attempt: number; fresh: boolean } {
    const seq = this.seq++;
    const current = this.lanes[this.lanes.length - 1];
    let lane: Lane | undefined;
    if (current && continues(current, rec)) lane = current;
    else {
      for (let i = this.lanes.length - 2; i >= 0; i--) {
        const other = this.lanes[i]!;
        if (continues(other, rec)) {
          lane = other;
          this.lanes.splice(i, 1);
          this.lanes.push(other);
          let live = 0;
          for (const l of this.lanes) if (seq - l.seq <= CONCURRENT_WINDOW) live++;
          this.maxWriters = Math.max(this.maxWriters, live + (seq - other.seq <= CONCURRENT_WINDOW ? 0 : 1));
          break;
        }
      }
    }
    const fresh = lane === undefined;
    if (!lane) {
      lane = { attempt: this.count++, step: rec.step, total: rec.totalSteps, elapsed: undefined, lossAtStep: false, seq };
      if (this.startSteps.length < MAX_STARTS) this.startSteps.push(rec.step);
      this.lanes.push(lane);
      if (this.lanes.length > LANES) this.lanes.shift();
      this.maxWriters = Math.max(this.maxWriters, 1);
    }
    lane.lossAtStep = (lane.step === rec.step && lane.lossAtStep) || rec.loss !== undefined;
    lane.step = rec.step;
    lane.total = rec.totalSteps;
    if (rec.elapsedSeconds !== undefined) lane.elapsed = rec.elapsedSeconds;
    lane.seq = seq;
    return { attempt: lane.attempt, fresh };
  }

  /**
   * Goes on with the records another tracker placed, read from the bytes that follow (a log read in parts at
   * once): only when that one saw one attempt and one writer, and its first record carries on this tracker's
   * newest attempt (a later step, the same total, a clock that did not go back). Returns the attempt the records
   * belong to, or -1 (nothing changed): then they must be placed one by one.
   */
  continueWith(next: AttemptTrackerState, first: FirstRecord): number {
    if (next.count !== 1 || next.lanes.length !== 1 || next.maxWriters > 1 || this.maxWriters > 1) return -1;
    const n = next.lanes[0]!;
    const lane = this.lanes[this.lanes.length - 1];
    if (!lane) {
      if (this.count > 0) return -1;
      const from = AttemptTracker.from(next);
      this.lanes = from.lanes;
      this.seq = from.seq;
      this.count = from.count;
      this.startSteps = from.startSteps;
      this.maxWriters = from.maxWriters;
      return n.attempt;
    }
    if (!continues(lane, first) || first.step <= lane.step) return -1;
    lane.step = n.step;
    lane.total = n.total;
    if (n.elapsed !== null) lane.elapsed = n.elapsed;
    lane.lossAtStep = n.lossAtStep;
    lane.seq = this.seq + n.seq;
    this.seq += next.seq;
    return lane.attempt;
  }

  get attempts(): number {
    return this.count;
  }

  /** The step each attempt's first record was at (the first 256 attempts). */
  get starts(): readonly number[] {
    return this.startSteps;
  }

  /** Most processes seen appending at the same time (1 for any log written by one process at a time). */
  get writers(): number {
    return this.maxWriters;
  }
}

function continues(lane: Lane, rec: { step: number; totalSteps: number; loss?: number; elapsedSeconds?: number }): boolean {
  if (rec.totalSteps !== lane.total) return false;
  if (rec.elapsedSeconds !== undefined && lane.elapsed !== undefined && rec.elapsedSeconds < lane.elapsed) return false;
  if (rec.step > lane.step) return true;
  return rec.step === lane.step && !(rec.loss !== undefined && lane.lossAtStep);
}

/**
 * Incremental reader: feed it the file's text as it grows (any chunking); it keeps a half-written last line
 * until its newline arrives. Call `reset()` when the file is truncated or replaced. It keeps every record, so
 * it is for logs of ordinary length; TrainerLogAggregator (trainersummary.ts) keeps a bounded summary instead.
 */
export class TrainerLogReader {
  private pending = '';
  private lineNo = 0;
  private skippedLines = 0;
  private rawRecords: RawTrainerRecord[] = [];
  private merged = new Map<number, TrainerRecord>();
  private sorted: TrainerRecord[] | null = null;
  private tracker = new AttemptTracker();
  /** Inside a line too long to be a record (a file that is not a trainer log): drop it up to its end. */
  private discarding = false;

  /** Consumes a chunk; returns the raw records completed by it. */
  feed(chunk: string): RawTrainerRecord[] {
    const text = this.pending + chunk;
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      this.pending = text;
      if (text.length > MAX_LINE) {
        this.pending = '';
        this.discarding = true;
      }
      return [];
    }
    this.pending = text.slice(cut + 1);
    const out: RawTrainerRecord[] = [];
    const lines = text.slice(0, cut).split('\n');
    if (this.discarding) {
      lines[0] = '';
      this.skippedLines++;
      this.discarding = false;
    }
    for (const line of lines) {
      const rec = this.consume(line);
      if (rec) out.push(rec);
    }
    return out;
  }

  /**
   * Takes the unterminated tail as a line if it is a complete record (a file read once, after its writer
   * is gone). A tail that does not decode stays pending.
   */
  flush(): RawTrainerRecord | undefined {
    if (this.pending.trim() === '' || decodeTrainerLine(this.pending) === undefined) return undefined;
    const line = this.pending;
    this.pending = '';
    return this.consume(line);
  }

  reset(): void {
    this.pending = '';
    this.lineNo = 0;
    this.skippedLines = 0;
    this.rawRecords = [];
    this.merged = new Map();
    this.sorted = null;
    this.tracker = new AttemptTracker();
    this.discarding = false;
  }

  get remainder(): string {
    return this.pending;
  }

  get raw(): readonly RawTrainerRecord[] {
    return this.rawRecords;
  }

  /** The merged series, ordered by step. */
  records(): TrainerRecord[] {
    this.sorted ??= [...this.merged.values()].sort((a, b) => a.step - b.step);
    return [...this.sorted];
  }

  result(): TrainerLogParse {
    return {
      records: this.records(),
      raw: [...this.rawRecords],
      attempts: this.tracker.attempts,
      attemptStartSteps: [...this.tracker.starts],
      writers: this.tracker.writers,
      remainder: this.pending,
      skipped: this.skippedLines,
    };
  }

  private consume(line: string): RawTrainerRecord | undefined {
    const n = this.lineNo++;
    if (line.trim() === '') return undefined;
    const decoded = decodeTrainerLine(line);
    if (!decoded) {
      this.skippedLines++;
      return undefined;
    }
    const candidate = withElapsedSeconds(decoded) as RawTrainerRecord;
    candidate.line = n;
    const { attempt, fresh } = this.tracker.place(candidate);
    candidate.attempt = attempt;
    if (fresh) {
      // The new attempt rolled back to a checkpoint: what the others logged from here on is superseded.
      for (const step of [...this.merged.keys()]) if (step >= candidate.step) this.merged.delete(step);
    }
    this.rawRecords.push(candidate);
    this.merge(candidate);
    return candidate;
  }

  private merge(rec: RawTrainerRecord): void {
    this.merged.set(rec.step, mergeRecord(this.merged.get(rec.step), rec));
    this.sorted = null;
  }
}

/** A decoded record with `elapsedSeconds` from its `elapsed` text. */
export function withElapsedSeconds<T extends { elapsed?: string; elapsedSeconds?: number }>(rec: T): T {
  const seconds = rec.elapsed === undefined ? undefined : parseTimedelta(rec.elapsed);
  if (seconds !== undefined) rec.elapsedSeconds = seconds;
  return rec;
}

/**
 * The merged record at a step once `rec` arrives. Same attempt, same step: a training record and its eval
 * record or the final summary, combined with newer values winning, so the summary's throughput updates the step
 * without erasing its loss. Another attempt's record replaces it. The existing record is never changed.
 */
export function mergeRecord(existing: TrainerRecord | undefined, rec: TrainerRecord): TrainerRecord {
  const target: Record<string, unknown> = existing && existing.attempt === rec.attempt ? { ...existing } : {};
  for (const key in rec) {
    if (key === 'line' || key === 'elapsedSeconds') continue;
    const v = (rec as unknown as Record<string, unknown>)[key];
    if (v !== undefined) target[key] = v;
  }
  return target as unknown as TrainerRecord;
}

/** Parses a whole trainer_log.jsonl. A complete record without its final newline is taken as well. */
export function parseTrainerLog(text: string): TrainerLogParse {
  const reader = new TrainerLogReader();
  reader.feed(text);
  reader.flush();
  return reader.result();
}

/**
 * Records from an HF `trainer_state.json` `log_history`, for output dirs whose trainer_log.jsonl is gone
 * (deleted with `overwrite_output_dir`, or written by a run without LLaMA-Factory's LogCallback).
 * Everything is attempt 0: trainer_state.json holds only the history that led to its checkpoint.
 */
export function recordsFromTrainerState(state: unknown): TrainerRecord[] {
  if (state === null || typeof state !== 'object') return [];
  const s = state as Record<string, unknown>;
  const history = Array.isArray(s.log_history) ? s.log_history : [];
  const totalSteps = num(s.max_steps) ?? 0;
  const merged = new Map<number, TrainerRecord>();
  for (const entry of history) {
    if (entry === null || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    const step = num(e.step);
    if (step === undefined || !Number.isInteger(step)) continue;
    const rec: TrainerRecord = merged.get(step) ?? { step, totalSteps, attempt: 0 };
    const loss = num(e.loss);
    const evalLoss = num(e.eval_loss);
    const lr = num(e.learning_rate);
    const epoch = num(e.epoch);
    const tokens = num(e.num_input_tokens_seen);
    if (loss !== undefined) rec.loss = loss;
    if (evalLoss !== undefined) rec.evalLoss = evalLoss;
    if (lr !== undefined) rec.lr = lr;
    if (epoch !== undefined) rec.epoch = epoch;
    if (tokens !== undefined && tokens > 0) rec.totalTokens = tokens;
    if (totalSteps > 0) rec.percent = Math.round((step / totalSteps) * 10_000) / 100;
    merged.set(step, rec);
  }
  return [...merged.values()].sort((a, b) => a.step - b.step);
}
