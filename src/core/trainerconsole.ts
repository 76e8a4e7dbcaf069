/**
 * Reader for what `llamafactory-cli train` prints: tqdm bars (stderr, redrawn after `\r`), transformers and
 * LLaMA-Factory logger lines, `print`ed milestones and HF metric dicts (stdout).
 *
 * Two layers: `ConsoleParser` turns one stream's text (any chunking) into events; `ConsoleTracker` folds the
 * events of both streams into a `ConsoleState` (current phase, milestones, last metrics).
 */
import type { PhaseProgress } from './run.js';
import { LOGGER_PREFIX, MILESTONES, RANK_PREFIX, logMessage, type Milestone } from './milestones.js';
import { parsePythonDict, type MetricValue } from './pydict.js';
import { ANSI, parseProgressBar, type ProgressBar } from './tqdm.js';

export type ConsoleEvent =
  | { kind: 'bar'; bar: ProgressBar }
  | { kind: 'milestone'; milestone: Milestone; line: string }
  /** An HF metric dict (`{'loss': '6.051', …}`) or LLaMA Board's compact line; quoted numbers are numbers here. */
  | { kind: 'metrics'; metrics: Record<string, MetricValue>; source: 'trainer' | 'llamaboard' }
  /** A `***** train metrics *****` block (`  key = value` lines), values as printed. */
  | { kind: 'final-metrics'; split: string; metrics: Record<string, string> }
  | { kind: 'line'; text: string };

const METRICS_HEADER = /^\*{5} (\w+) metrics \*{5}$/;
const METRICS_LINE = /^ {2}(\S+)\s*=\s*(.*?)\s*$/;

/**
 * Splits one stream into events. Lines end at `\n` or `\r` (tqdm redraws after `\r`); a line still being
 * written is held back, except that a complete bar at the end is reported at once (tqdm's latest redraw is
 * never followed by a terminator until the next one).
 */
export class ConsoleParser {
  private pending = '';
  private lastPendingBar = '';
  private block: { split: string; metrics: Record<string, string> } | null = null;

  feed(chunk: string): ConsoleEvent[] {
    const events: ConsoleEvent[] = [];
    const text = this.pending + chunk;
    const parts = text.split(/\r\n|\r|\n/);
    this.pending = parts.pop() ?? '';
    for (const part of parts) this.segment(part, events);
    const tail = this.pending.replace(ANSI, '');
    const parsed = parseProgressBar(tail);
    if (parsed && parsed.rest === '' && tail !== this.lastPendingBar) {
      this.lastPendingBar = tail;
      events.push({ kind: 'bar', bar: parsed.bar });
    }
    return events;
  }

  /** The stream ended: take the unterminated tail as a line. */
  end(): ConsoleEvent[] {
    const events: ConsoleEvent[] = [];
    if (this.pending !== '') this.segment(this.pending, events);
    this.pending = '';
    this.closeBlock(events);
    return events;
  }

  reset(): void {
    this.pending = '';
    this.lastPendingBar = '';
    this.block = null;
  }

  private segment(raw: string, events: ConsoleEvent[]): void {
    let text = raw.replace(ANSI, '');
    for (;;) {
      const parsed = parseProgressBar(text.replace(/^\s+/, ''));
      if (!parsed) break;
      if (text !== this.lastPendingBar) events.push({ kind: 'bar', bar: parsed.bar });
      this.lastPendingBar = '';
      text = parsed.rest;
    }
    if (text.trim() === '') return;
    this.line(text, events);
  }

  private line(text: string, events: ConsoleEvent[]): void {
    const msg = logMessage(text);
    if (this.block) {
      const m = METRICS_LINE.exec(msg);
      if (m) {
        this.block.metrics[m[1] ?? ''] = m[2] ?? '';
        return;
      }
      this.closeBlock(events);
    }
    const header = METRICS_HEADER.exec(msg.trim());
    if (header) {
      this.block = { split: header[1] ?? '', metrics: {} };
      return;
    }
    const trimmed = msg.trim();
    if (trimmed.startsWith('{') && trimmed.endsWith('}')) {
      const metrics = parsePythonDict(trimmed);
      if (metrics) {
        events.push({ kind: 'metrics', metrics, source: LOGGER_PREFIX.test(text.replace(RANK_PREFIX, '')) ? 'llamaboard' : 'trainer' });
        return;
      }
    }
    for (const { re, make } of MILESTONES) {
      const m = re.exec(trimmed);
      if (m) {
        events.push({ kind: 'milestone', milestone: make(m), line: text.trim() });
        return;
      }
    }
    events.push({ kind: 'line', text });
  }

  private closeBlock(events: ConsoleEvent[]): void {
    if (!this.block) return;
    events.push({ kind: 'final-metrics', split: this.block.split, metrics: this.block.metrics });
    this.block = null;
  }
}

/** Phases named by the bars that LLaMA-Factory, datasets and transformers draw. */
const PHASES: [RegExp, string][] = [
  [/^Loading (?:weights|checkpoint shards)/, 'loading model'],
  [/^(?:Generating \w+ split|Loading dataset shards|Resolving data files|Downloading)/, 'reading dataset'],
  [/^Converting format of dataset/, 'converting dataset'],
  [/^Running tokenizer on dataset/, 'tokenizing dataset'],
  [/^(?:Map|Filter)\b/, 'preparing dataset'],
  [/^Saving the dataset/, 'saving dataset'],
  [/^Writing model shards/, 'saving model'],
];

export function phaseName(desc: string): { name: string; detail?: string } {
  const detail = /\(([^)]*)\)\s*$/.exec(desc)?.[1];
  for (const [re, name] of PHASES) if (re.test(desc)) return detail ? { name, detail } : { name };
  return { name: desc };
}

export interface ConsoleState {
  /** What the process is doing now, from the latest bar or milestone; null once it has finished. */
  phase: PhaseProgress | null;
  /** The latest redraw of the Trainer's training bar in the current attempt. */
  trainBar: ProgressBar | null;
  /** `Total optimization steps = N` of the current attempt. */
  totalSteps: number | null;
  datasets: string[];
  preprocessed: boolean;
  trainableParams: { trainable: number; all: number; percent: number } | null;
  trainingStarted: boolean;
  /** How many times `***** Running training *****` appeared (attempts appended to one log). */
  trainingStarts: number;
  resumedFrom: { checkpoint: string; step: number | null } | null;
  checkpointsSaved: number[];
  modelSaved: string | null;
  trainingCompleted: boolean;
  figureSaved: string | null;
  plotted: boolean;
  trainerLogDeleted: boolean;
  /** The attempt medtune's banner last announced (null for logs without banners). */
  attempt: number | null;
  /** The latest HF metric dicts: training (`loss`), evaluation (`eval_loss`) and the end-of-training summary. */
  lastTrainMetrics: Record<string, MetricValue> | null;
  lastEvalMetrics: Record<string, MetricValue> | null;
  summaryMetrics: Record<string, MetricValue> | null;
  /** `***** <split> metrics *****` blocks by split. */
  finalMetrics: Record<string, Record<string, string>>;
}

export function initialConsoleState(): ConsoleState {
  return {
    phase: null,
    trainBar: null,
    totalSteps: null,
    datasets: [],
    preprocessed: false,
    trainableParams: null,
    trainingStarted: false,
    trainingStarts: 0,
    resumedFrom: null,
    checkpointsSaved: [],
    modelSaved: null,
    trainingCompleted: false,
    figureSaved: null,
    plotted: false,
    trainerLogDeleted: false,
    attempt: null,
    lastTrainMetrics: null,
    lastEvalMetrics: null,
    summaryMetrics: null,
    finalMetrics: {},
  };
}

function barPhase(name: string, bar: ProgressBar, detail?: string): PhaseProgress {
  const p: PhaseProgress = { name, done: bar.done, total: bar.total };
  if (detail) p.detail = detail;
  if (bar.unit) p.unit = bar.unit;
  if (bar.rate !== null) p.ratePerSecond = bar.rate;
  if (bar.elapsedSeconds !== null) p.elapsedSeconds = bar.elapsedSeconds;
  if (bar.remainingSeconds !== null) p.etaSeconds = bar.remainingSeconds;
  return p;
}

/** Folds both streams' events into one state. Events from stdout and stderr may interleave in any order. */
export class ConsoleTracker {
  readonly state: ConsoleState = initialConsoleState();
  private readonly parsers = { stdout: new ConsoleParser(), stderr: new ConsoleParser() };
  private inEval = false;

  feed(stream: 'stdout' | 'stderr', chunk: string): ConsoleEvent[] {
    const events = this.parsers[stream].feed(chunk);
    this.apply(events);
    return events;
  }

  end(stream: 'stdout' | 'stderr'): ConsoleEvent[] {
    const events = this.parsers[stream].end();
    this.apply(events);
    return events;
  }

  /** Forget one stream's partial line (its file was truncated or replaced). */
  resetStream(stream: 'stdout' | 'stderr'): void {
    this.parsers[stream].reset();
  }

  apply(events: readonly ConsoleEvent[]): void {
    for (const e of events) {
      if (e.kind === 'bar') this.bar(e.bar);
      else if (e.kind === 'milestone') this.milestone(e.milestone);
      else if (e.kind === 'metrics') this.metrics(e.metrics);
      else if (e.kind === 'final-metrics') this.state.finalMetrics[e.split] = e.metrics;
    }
    // stdout and stderr are read separately, so the end can show up on either first.
    if (finished(this.state)) this.state.phase = null;
  }

  private bar(bar: ProgressBar): void {
    const s = this.state;
    if (bar.desc !== '') {
      const { name, detail } = phaseName(bar.desc);
      s.phase = barPhase(name, bar, detail);
      return;
    }
    // The Trainer's bars have no description: the training bar counts to max_steps; an evaluation bar runs
    // nested inside it, counting eval batches.
    if (s.totalSteps === null && s.trainingStarted && !this.inEval) s.totalSteps = bar.total;
    const isTraining =
      bar.total !== null && bar.total === s.totalSteps && (!this.inEval || s.trainBar === null || bar.done >= s.trainBar.done);
    if (isTraining) {
      this.inEval = false;
      s.trainBar = bar;
      s.phase = barPhase('training', bar);
    } else {
      s.phase = barPhase(s.trainingStarted ? 'evaluating' : 'working', bar);
    }
  }

  private milestone(m: Milestone): void {
    const s = this.state;
    switch (m.type) {
      case 'loading-dataset':
        if (!s.datasets.includes(m.name)) s.datasets.push(m.name);
        break;
      case 'preprocessed':
        s.preprocessed = true;
        break;
      case 'trainable-params':
        s.trainableParams = { trainable: m.trainable, all: m.all, percent: m.percent };
        break;
      case 'training-started':
        // A new attempt appended to the same log starts its bar over.
        s.trainingStarted = true;
        s.trainingStarts++;
        s.trainBar = null;
        s.totalSteps = null;
        s.trainingCompleted = false;
        s.modelSaved = null;
        this.inEval = false;
        s.phase = { name: 'training', done: 0, total: null };
        break;
      case 'total-steps':
        s.totalSteps = m.steps;
        if (s.phase?.name === 'training' && s.phase.total === null) s.phase = { ...s.phase, total: m.steps };
        break;
      case 'resuming':
        s.resumedFrom = { checkpoint: m.checkpoint, step: m.step };
        break;
      case 'checkpoint-saved':
        if (!s.checkpointsSaved.includes(m.step)) s.checkpointsSaved.push(m.step);
        s.phase = { name: 'saving checkpoint', done: 0, total: null, detail: `checkpoint-${m.step}` };
        break;
      case 'model-saved':
        s.modelSaved = m.path;
        s.phase = { name: 'saving model', done: 0, total: null };
        break;
      case 'evaluating':
        this.inEval = true;
        s.phase = { name: 'evaluating', done: 0, total: null };
        break;
      case 'training-completed':
        s.trainingCompleted = true;
        s.phase = { name: 'saving model', done: 0, total: null };
        break;
      case 'figure-saved':
        s.figureSaved = m.path;
        break;
      case 'plotted':
        s.plotted = true;
        break;
      case 'trainer-log-deleted':
        s.trainerLogDeleted = true;
        break;
      case 'attempt-started':
        // What the previous attempt showed no longer describes the process now running.
        s.attempt = m.attempt;
        s.trainBar = null;
        s.totalSteps = null;
        s.trainingStarted = false;
        s.trainingCompleted = false;
        s.modelSaved = null;
        s.figureSaved = null;
        s.plotted = false;
        s.preprocessed = false;
        this.inEval = false;
        s.phase = { name: 'starting', done: 0, total: null };
        break;
    }
  }

  private metrics(metrics: Record<string, MetricValue>): void {
    if ('train_loss' in metrics) this.state.summaryMetrics = metrics;
    else if ('eval_loss' in metrics) this.state.lastEvalMetrics = metrics;
    else if ('loss' in metrics) this.state.lastTrainMetrics = metrics;
  }
}

/** Training is over and its results are written (the process may still be tidying up). */
export function finished(s: ConsoleState): boolean {
  // LLaMA-Factory prints the metrics block and plots after save_model(), so any of them means saved.
  return s.trainingCompleted && (s.figureSaved !== null || s.plotted || 'train' in s.finalMetrics);
}

/** Reads whole stdout and stderr texts (either may be empty) into a state. */
export function parseConsole(stdout: string, stderr: string): ConsoleState {
  const t = new ConsoleTracker();
  t.feed('stdout', stdout);
  t.end('stdout');
  t.feed('stderr', stderr);
  t.end('stderr');
  return t.state;
}
