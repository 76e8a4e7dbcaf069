/**
 * A bounded summary of a trainer_log.jsonl of any length, kept up to date record by record: what a status line,
 * a monitor and a loss chart need, in memory that does not grow with the log.
 *
 * It follows TrainerLogReader's rules (attempts, rollback on resume, records of one step combined) but keeps
 * only the newest merged records, a count of the steps, the peak memory, the last value of each field and a
 * downsampled loss and eval-loss curve (curve.ts).
 */
import type { TrainerRecord } from './run.js';
import { StepCurve, type CurveOptions, type CurveSample, type StepCurveState } from './curve.js';
import { AttemptTracker, mergeRecord, type AttemptTrackerState, type FirstRecord } from './trainerlog.js';
import { decodeTrainerBytes, scanTrainerLines, scanTrainerLinesLite, timed } from './trainerscan.js';

/** A decoded record, whole (decodeTrainerLine) or with the bulk fields only (decodeTrainerLite). */
export type IncomingRecord = Omit<TrainerRecord, 'attempt'> & { elapsedSeconds?: number };

export interface LatestValues {
  loss: number | null;
  evalLoss: number | null;
  lr: number | null;
  epoch: number | null;
  throughput: number | null;
  totalTokens: number | null;
  elapsed: string | null;
}

export interface TrainerLogSummary {
  /** Steps in the merged series (one record per step across attempts). */
  recordCount: number;
  /** Records read (lines that decoded), and complete lines that were not records. */
  rawRecords: number;
  skipped: number;
  attempts: number;
  /** The step each attempt began at (the first 256). */
  attemptStartSteps: number[];
  /** Most processes seen appending at once (2 when two launches wrote into one folder). */
  writers: number;
  /** The newest merged records, by step. */
  recent: TrainerRecord[];
  /** The value of each field at the highest step that has it (or, past the recent records, the last written). */
  latest: LatestValues;
  peakVramGiB: number | null;
  loss: CurveSample;
  evalLoss: CurveSample;
}

export interface AggregatorOptions {
  /** Newest merged records kept (default 1024). */
  recent?: number;
  curve?: CurveOptions;
}

const FIELDS = ['loss', 'evalLoss', 'lr', 'epoch', 'throughput', 'totalTokens', 'elapsed'] as const;

/** A TrainerLogAggregator as plain data (JSON). */
export interface AggregatorState {
  recentMax: number;
  tracker: AttemptTrackerState;
  recent: TrainerRecord[];
  steps: StepCurveState;
  loss: StepCurveState;
  evalLoss: StepCurveState;
  raw: number;
  skipped: number;
  knownAttempts: number;
  knownStarts: number[];
  peak: number | null;
  lastSeen: Record<string, number | string | null>;
  /** The first record added (placed by order), to join a summary of the bytes before it (append). */
  first?: FirstRecord | null;
}

export class TrainerLogAggregator {
  private readonly recentMax: number;
  private tracker = new AttemptTracker();
  private recent: TrainerRecord[] = [];
  private steps: StepCurve;
  private loss: StepCurve;
  private evalLoss: StepCurve;
  private raw = 0;
  private knownAttempts = 0;
  private knownStarts: number[] = [];
  private skippedLines = 0;
  private peak: number | null = null;
  private first: FirstRecord | null = null;
  private lastSeen: Record<(typeof FIELDS)[number], number | string | null> = {
    loss: null,
    evalLoss: null,
    lr: null,
    epoch: null,
    throughput: null,
    totalTokens: null,
    elapsed: null,
  };

  constructor(opts: AggregatorOptions = {}) {
    this.recentMax = Math.max(1, opts.recent ?? 1024);
    this.steps = new StepCurve(opts.curve);
    this.loss = new StepCurve(opts.curve);
    this.evalLoss = new StepCurve(opts.curve);
  }

  state(): AggregatorState {
    return {
      recentMax: this.recentMax,
      tracker: this.tracker.state(),
      // Whole (fewer than 2 × recentMax): a summary joined after another replays them as one pass would.
      recent: this.recent.map((r) => ({ ...r })),
      steps: this.steps.state(),
      loss: this.loss.state(),
      evalLoss: this.evalLoss.state(),
      raw: this.raw,
      skipped: this.skippedLines,
      knownAttempts: this.knownAttempts,
      knownStarts: [...this.knownStarts],
      peak: this.peak,
      lastSeen: { ...this.lastSeen },
      first: this.first ? { ...this.first } : null,
    };
  }

  static from(s: AggregatorState): TrainerLogAggregator {
    const a = new TrainerLogAggregator({ recent: s.recentMax });
    a.tracker = AttemptTracker.from(s.tracker);
    a.recent = s.recent.map((r) => ({ ...r }));
    a.steps = StepCurve.from(s.steps);
    a.loss = StepCurve.from(s.loss);
    a.evalLoss = StepCurve.from(s.evalLoss);
    a.raw = s.raw;
    a.skippedLines = s.skipped;
    a.knownAttempts = s.knownAttempts;
    a.knownStarts = [...s.knownStarts];
    a.peak = s.peak;
    Object.assign(a.lastSeen, s.lastSeen);
    a.first = s.first ? { ...s.first } : null;
    return a;
  }

  /** Counts complete lines that were not records. */
  skip(n = 1): void {
    this.skippedLines += n;
  }

  /**
   * Adds a record in file order. `known` gives the attempt of a record already merged (a series from
   * trainer_state.json or parseTrainerLog) instead of telling it from the order of the records.
   */
  add(incoming: IncomingRecord, known?: number): void {
    if (this.raw === 0 && known === undefined) {
      const { step, totalSteps, loss, elapsedSeconds } = incoming;
      this.first = { step, totalSteps, loss, elapsedSeconds };
    }
    this.raw++;
    let attempt: number;
    let fresh = false;
    if (known === undefined) ({ attempt, fresh } = this.tracker.place(incoming));
    else {
      attempt = known;
      if (known >= this.knownAttempts) {
        this.knownAttempts = known + 1;
        this.knownStarts.push(incoming.step);
      }
    }
    const rec = toRecord(incoming, attempt);
    if (fresh) {
      // A new attempt rolled back to a checkpoint: what the others logged from here on is superseded.
      let keep = this.recent.length;
      while (keep > 0 && this.recent[keep - 1]!.step >= rec.step) keep--;
      this.recent.length = keep;
      this.steps.truncate(rec.step);
      this.loss.truncate(rec.step);
      this.evalLoss.truncate(rec.step);
    }
    const n = this.recent.length;
    const i = n === 0 || this.recent[n - 1]!.step < rec.step ? n : this.search(rec.step);
    const existing = this.recent[i]?.step === rec.step ? this.recent[i] : undefined;
    const merged = existing ? mergeRecord(existing, rec) : rec;
    if (existing) this.recent[i] = merged;
    else {
      if (i === n) this.recent.push(merged);
      else this.recent.splice(i, 0, merged);
      this.steps.set(rec.step, 0);
    }
    if (merged.loss !== undefined && Number.isFinite(merged.loss)) this.loss.set(rec.step, merged.loss);
    else if (existing?.loss !== undefined) this.loss.delete(rec.step);
    if (merged.evalLoss !== undefined && Number.isFinite(merged.evalLoss)) this.evalLoss.set(rec.step, merged.evalLoss);
    else if (existing?.evalLoss !== undefined) this.evalLoss.delete(rec.step);
    // Trimmed in batches, so appending stays O(1) amortised.
    if (this.recent.length >= 2 * this.recentMax) this.recent.splice(0, this.recent.length - this.recentMax);

    const seen = this.lastSeen;
    if (rec.loss !== undefined) seen.loss = rec.loss;
    if (rec.evalLoss !== undefined) seen.evalLoss = rec.evalLoss;
    if (rec.lr !== undefined) seen.lr = rec.lr;
    if (rec.epoch !== undefined) seen.epoch = rec.epoch;
    if (rec.throughput !== undefined) seen.throughput = rec.throughput;
    if (rec.totalTokens !== undefined) seen.totalTokens = rec.totalTokens;
    if (rec.elapsed !== undefined) seen.elapsed = rec.elapsed;
    const vram = rec.vramReserved ?? rec.vramAllocated;
    if (vram !== undefined && vram > 0 && (this.peak === null || vram > this.peak)) this.peak = vram;
  }

  /**
   * Joins the summary of the bytes that follow this one's (the same log read in parts at once). It takes it
   * only where placing its records one by one would give the same: one attempt and one writer in it, carrying
   * on this summary's newest attempt. False: nothing changed, and the part must be read into this one instead.
   */
  append(next: AggregatorState): boolean {
    if (next.raw === 0) {
      this.skippedLines += next.skipped;
      return true;
    }
    if (!next.first || this.knownAttempts > 0 || next.knownAttempts > 0 || next.recentMax !== this.recentMax) return false;
    const attempt = this.tracker.continueWith(next.tracker, next.first);
    if (attempt < 0) return false;
    for (const r of next.recent) {
      this.recent.push({ ...r, attempt });
      if (this.recent.length >= 2 * this.recentMax) this.recent.splice(0, this.recent.length - this.recentMax);
    }
    this.steps.append(StepCurve.from(next.steps));
    this.loss.append(StepCurve.from(next.loss));
    this.evalLoss.append(StepCurve.from(next.evalLoss));
    this.raw += next.raw;
    this.skippedLines += next.skipped;
    if (next.peak !== null && (this.peak === null || next.peak > this.peak)) this.peak = next.peak;
    for (const f of FIELDS) {
      const v = next.lastSeen[f];
      if (v !== null && v !== undefined) this.lastSeen[f] = v;
    }
    this.first ??= next.first;
    return true;
  }

  summary(): TrainerLogSummary {
    const latest = {} as Record<string, number | string | null>;
    const floor = Math.max(0, this.recent.length - this.recentMax);
    for (const f of FIELDS) {
      let v: number | string | null = null;
      for (let i = this.recent.length - 1; i >= floor; i--) {
        const x = this.recent[i]![f];
        if (x !== undefined) {
          v = x;
          break;
        }
      }
      latest[f] = v ?? this.lastSeen[f];
    }
    return {
      recordCount: this.steps.size,
      rawRecords: this.raw,
      skipped: this.skippedLines,
      attempts: Math.max(this.tracker.attempts, this.knownAttempts),
      attemptStartSteps: this.knownAttempts > this.tracker.attempts ? [...this.knownStarts] : [...this.tracker.starts],
      writers: this.tracker.writers,
      recent: this.recent.slice(-this.recentMax),
      latest: latest as unknown as LatestValues,
      peakVramGiB: this.peak,
      loss: this.loss.sample(),
      evalLoss: this.evalLoss.sample(),
    };
  }

  private search(step: number): number {
    let lo = 0;
    let hi = this.recent.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.recent[mid]!.step < step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const KEYS = [
  'loss',
  'evalLoss',
  'lr',
  'epoch',
  'percent',
  'elapsed',
  'remaining',
  'throughput',
  'totalTokens',
  'vramAllocated',
  'vramReserved',
] as const;

/** A TrainerRecord of `attempt` from a decoded one (its fields only, in decodeTrainerLine's order). */
function toRecord(r: IncomingRecord, attempt: number): TrainerRecord {
  const out: TrainerRecord = { step: r.step, totalSteps: r.totalSteps } as TrainerRecord;
  if (r.lr === undefined && r.epoch === undefined && r.percent === undefined && r.elapsed === undefined) {
    // The bulk fields of a long log's older lines (decodeTrainerLite).
    if (r.loss !== undefined) out.loss = r.loss;
    if (r.evalLoss !== undefined) out.evalLoss = r.evalLoss;
    if (r.vramAllocated !== undefined) out.vramAllocated = r.vramAllocated;
    if (r.vramReserved !== undefined) out.vramReserved = r.vramReserved;
    out.attempt = attempt;
    return out;
  }
  for (const k of KEYS) {
    const v = r[k];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  out.attempt = attempt;
  return out;
}

/** A summary of records already merged (trainer_state.json's log_history, or a test's series). */
export function summarizeRecords(records: readonly TrainerRecord[], opts: AggregatorOptions = {}): TrainerLogSummary {
  const agg = new TrainerLogAggregator(opts);
  for (const r of records) {
    const { attempt, ...rest } = r;
    agg.add(rest, attempt);
  }
  return agg.summary();
}

/** The summary of an empty or missing log. */
export function emptySummary(): TrainerLogSummary {
  return new TrainerLogAggregator().summary();
}

/** A line longer than this is not a record: it is dropped up to its end (a file that is not a trainer log). */
const MAX_LINE = 1 << 20;

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export interface FeederOptions extends AggregatorOptions {
  /**
   * File offset from which lines are decoded whole; before it only the bulk fields are read (decodeTrainerLite).
   * Set it to the last megabyte or so of the file, so the recent records keep every field (default 0: all whole).
   */
  fullFrom?: number;
}

/**
 * Feeds a trainer_log.jsonl's bytes, in any chunks, to a TrainerLogAggregator; a half-written last line waits
 * for its newline. Memory is the aggregator's plus one line.
 */
/** A TrainerLogFeeder as plain data (JSON): carry it to go on reading the same file from `consumed`. */
export interface FeederState {
  fullFrom: number;
  agg: AggregatorState;
  /** The unterminated last line, as byte values. */
  carry: number[];
  consumed: number;
  discarding: boolean;
}

export class TrainerLogFeeder {
  agg: TrainerLogAggregator;
  private carry: Uint8Array = new Uint8Array(0);
  private consumed = 0;
  private discarding = false;

  constructor(private readonly opts: FeederOptions = {}) {
    this.agg = new TrainerLogAggregator(opts);
  }

  state(): FeederState {
    return {
      fullFrom: this.opts.fullFrom ?? 0,
      agg: this.agg.state(),
      carry: [...this.carry],
      consumed: this.consumed,
      discarding: this.discarding,
    };
  }

  static from(s: FeederState): TrainerLogFeeder {
    const f = new TrainerLogFeeder({ fullFrom: s.fullFrom, recent: s.agg.recentMax });
    f.agg = TrainerLogAggregator.from(s.agg);
    f.carry = Uint8Array.from(s.carry);
    f.consumed = s.consumed;
    f.discarding = s.discarding;
    return f;
  }

  /** Bytes of complete lines consumed so far (the file offset the next line starts at). */
  get offset(): number {
    return this.consumed;
  }

  /** Bytes fed after `offset`: the unterminated line held back. */
  get pending(): number {
    return this.carry.length;
  }

  feed(chunk: Uint8Array): void {
    let rest = chunk;
    if (this.carry.length > 0) {
      // Only the held-back line is joined to the chunk's first line: the chunk itself is read where it lies.
      const nl = rest.indexOf(0x0a);
      if (nl < 0) {
        this.carry = concatBytes(this.carry, rest);
        this.holdOrDrop(this.carry, 0);
        return;
      }
      const line = concatBytes(this.carry, rest.subarray(0, nl + 1));
      this.carry = new Uint8Array(0);
      this.scan(line);
      rest = rest.subarray(nl + 1);
    }
    this.scan(rest);
  }

  /** Reads the complete lines of `buf` (which starts at `offset`) and holds back its unterminated end. */
  private scan(buf: Uint8Array): void {
    const base = this.consumed;
    let start = 0;
    if (this.discarding) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        this.consumed += buf.length;
        return;
      }
      this.agg.skip();
      this.discarding = false;
      start = nl + 1;
    }
    const add = (r: IncomingRecord) => this.agg.add(r);
    const fullFrom = this.opts.fullFrom ?? 0;
    if (base + start < fullFrom) {
      const liteEnd = Math.min(buf.length, fullFrom - base);
      const lite = scanTrainerLinesLite(buf, start, liteEnd, add);
      this.agg.skip(lite.skipped);
      start += lite.consumed;
    }
    const full = scanTrainerLines(buf, start, buf.length, add);
    this.agg.skip(full.skipped);
    start += full.consumed;
    this.consumed = base + start;
    this.holdOrDrop(buf, start);
  }

  /** Holds back buf[start..] (a line still being written), or drops it once it is too long to be a record. */
  private holdOrDrop(buf: Uint8Array, start: number): void {
    const rest = buf.length - start;
    if (rest > MAX_LINE) {
      this.consumed += rest;
      this.carry = new Uint8Array(0);
      this.discarding = true;
    } else if (buf !== this.carry || start > 0) {
      // A copy: `buf` may be a view of the caller's read buffer (Buffer#slice would share it).
      this.carry = Uint8Array.prototype.slice.call(buf, start);
    }
  }

  /** Takes an unterminated last line if it is a whole record (a file read once, after its writer is gone). */
  flush(): void {
    if (this.carry.length === 0 || this.discarding) return;
    const rec = decodeTrainerBytes(this.carry, 0, this.carry.length);
    if (!rec) return;
    this.agg.add(timed(rec));
    this.consumed += this.carry.length;
    this.carry = new Uint8Array(0);
  }

  /**
   * Takes the summary of the next `bytes` bytes of the file, read elsewhere (TrainerLogAggregator.append), as if
   * they had been fed here. False when it cannot (then feed those bytes instead).
   */
  appendPart(state: AggregatorState, bytes: number): boolean {
    if (this.carry.length > 0 || this.discarding || !this.agg.append(state)) return false;
    this.consumed += bytes;
    return true;
  }

  reset(): void {
    this.agg = new TrainerLogAggregator(this.opts);
    this.carry = new Uint8Array(0);
    this.consumed = 0;
    this.discarding = false;
  }

  summary(): TrainerLogSummary {
    return this.agg.summary();
  }
}

/**
 * A feeder for one part of a log read in parts at once: every line decoded for its bulk fields only, as the
 * bytes before a log's last megabyte are. Its aggregator's state goes to TrainerLogFeeder.appendPart.
 */
export function partFeeder(opts: AggregatorOptions = {}): TrainerLogFeeder {
  return new TrainerLogFeeder({ ...opts, fullFrom: Number.POSITIVE_INFINITY });
}
