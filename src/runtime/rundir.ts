/**
 * Reads a run from its files: a medtune run folder (runs/<id>/ with run.json, stdout.log, stderr.log,
 * output/) or any LLaMA-Factory output_dir (made by LLaMA Board or a plain CLI run).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import type { RunManifest, RunView, TrainerRecord } from '../core/run.js';
import { TERMINAL_STATUSES } from '../core/run.js';
import { buildRunView, type RunResults } from '../core/runview.js';
import { ConsoleTracker, type ConsoleState } from '../core/trainerconsole.js';
import { num, recordsFromTrainerState } from '../core/trainerlog.js';
import { emptySummary, summarizeRecords, type TrainerLogSummary } from '../core/trainersummary.js';
import { followFile, readAll, readHeadTail, type Follower } from './follow.js';
import { listCheckpoints, type CheckpointInfo } from './checkpoints.js';
import { nonEmptyFile } from './files.js';
import { readManifest } from './manifest.js';
import { reconcileRun } from './reconcile.js';
import { feederFor, outputDirWriterAlive, readTrainerLogSummary, readTrainerLogTail, streamTrainerRecords } from './trainerlogfile.js';

/** Everything a run's files say, before it is condensed into a RunView. */
export interface RunDirContents {
  kind: 'run' | 'output';
  dir: string;
  outputDir: string;
  manifest: RunManifest | null;
  /** Whether trainer_log.jsonl exists (without it, the records come from trainer_state.json). */
  hasTrainerLog: boolean;
  /** The trainer log's bounded summary (trainersummary.ts). */
  log: TrainerLogSummary;
  console: ConsoleState;
  checkpoints: CheckpointInfo[];
  results: RunResults;
  lastActivityMs: number | null;
  lastRecordMs: number | null;
  /** Whether a live process writes the output_dir (bare output_dirs only; null: not looked or cannot tell). */
  writerAlive: boolean | null;
}

const OUTPUT_MARKERS = [
  'trainer_log.jsonl',
  'trainer_state.json',
  'all_results.json',
  'train_results.json',
  'eval_results.json',
  'predict_results.json',
  'running_log.txt',
  'training_args.yaml',
  'llamaboard_config.yaml',
  'adapter_config.json',
];

// Enough of a long log for the milestones at its start and the phase at its end.
const HEAD_BYTES = 256 * 1024;
const TAIL_BYTES = 2 * 1024 * 1024;

async function mtimeMs(path: string): Promise<number | null> {
  const st = await stat(path).catch(() => null);
  return st ? st.mtimeMs : null;
}

async function isOutputDir(dir: string): Promise<boolean> {
  const entries = await readdir(dir).catch(() => null);
  if (!entries) return false;
  return entries.some((e) => OUTPUT_MARKERS.includes(e) || /^checkpoint-\d+$/.test(e));
}

async function feedLog(tracker: ConsoleTracker, stream: 'stdout' | 'stderr', path: string): Promise<void> {
  const got = await readHeadTail(path, HEAD_BYTES, TAIL_BYTES);
  if (!got) return;
  tracker.feed(stream, got.text);
  tracker.end(stream);
}

function outputDirOf(manifest: RunManifest): string {
  return isAbsolute(manifest.outputDir) ? manifest.outputDir : resolve(manifest.cwd, manifest.outputDir);
}

/** A run folder, given the folder itself or its output_dir (runs/<id>/output). */
async function findRun(dir: string): Promise<{ root: string; manifest: RunManifest | null }> {
  const root = resolve(dir);
  // A run whose supervisor is gone gets its real end recorded before anyone reads it.
  const own = (await reconcileRun(root)).manifest;
  if (own) return { root, manifest: own };
  const parent = await readManifest(dirname(root)).catch(() => undefined);
  if (parent && outputDirOf(parent) === root) return { root: dirname(root), manifest: parent };
  return { root, manifest: null };
}

interface RunLocation {
  kind: 'run' | 'output';
  root: string;
  manifest: RunManifest | null;
  outputDir: string;
  logs: { path: string; stream: 'stdout' | 'stderr' }[];
}

async function locateRun(dir: string): Promise<RunLocation> {
  const { root, manifest } = await findRun(dir);
  if (manifest) {
    return {
      kind: 'run',
      root,
      manifest,
      outputDir: outputDirOf(manifest),
      logs: [
        { path: join(root, 'stdout.log'), stream: 'stdout' },
        { path: join(root, 'stderr.log'), stream: 'stderr' },
      ],
    };
  }
  if (await isOutputDir(root)) {
    // LLaMA Board's child writes its logger lines to running_log.txt ([main]: everything to webui_subprocess.log).
    return {
      kind: 'output',
      root,
      manifest: null,
      outputDir: root,
      logs: ['running_log.txt', 'webui_subprocess.log'].map((name) => ({ path: join(root, name), stream: 'stderr' as const })),
    };
  }
  const exists = await stat(root)
    .then((s) => s.isDirectory())
    .catch(() => false);
  throw new MedtuneError({
    doing: `reading ${dir}`,
    problem: exists
      ? 'it is neither a medtune run (no run.json) nor a LLaMA-Factory output_dir (no trainer_log.jsonl, trainer_state.json or checkpoint-*)'
      : 'no such folder',
    next: 'pass a run id (`medtune runs` lists them), runs/<id>, or the output_dir of a LLaMA-Factory run',
    code: 'NOT_A_RUN',
  });
}

async function readJson(path: string): Promise<unknown> {
  const text = await readAll(path).catch(() => null);
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * trainer_state.json's progress: output_dir's own, else the newest checkpoint's that parses (the Trainer writes it
 * last in a checkpoint, after the weights).
 */
async function readTrainerState(outputDir: string, checkpoints: CheckpointInfo[]): Promise<RunResults['trainerState']> {
  const paths = [join(outputDir, 'trainer_state.json'), ...[...checkpoints].reverse().map((c) => join(c.path, 'trainer_state.json'))];
  for (const path of paths) {
    const state = await readJson(path);
    if (state === null || typeof state !== 'object') continue;
    const s = state as Record<string, unknown>;
    const globalStep = num(s.global_step);
    const maxSteps = num(s.max_steps);
    if (globalStep !== undefined && maxSteps !== undefined) return { globalStep, maxSteps };
  }
  return null;
}

async function readResults(outputDir: string, checkpoints: CheckpointInfo[]): Promise<RunResults> {
  const evalJson = await readJson(join(outputDir, 'eval_results.json'));
  let evalResults: RunResults['evalResults'] = null;
  if (evalJson !== null && typeof evalJson === 'object') {
    const e = evalJson as Record<string, unknown>;
    const evalLoss = num(e.eval_loss);
    const epoch = num(e.epoch);
    evalResults = { ...(evalLoss === undefined ? {} : { evalLoss }), ...(epoch === undefined ? {} : { epoch }) };
  }
  return {
    trainResults: await nonEmptyFile(join(outputDir, 'train_results.json')),
    allResults: await nonEmptyFile(join(outputDir, 'all_results.json')),
    predictResults: await nonEmptyFile(join(outputDir, 'predict_results.json')),
    evalResults,
    trainerState: await readTrainerState(outputDir, checkpoints),
  };
}

export async function readRunContents(dir: string): Promise<RunDirContents> {
  const { kind, root, manifest, outputDir, logs } = await locateRun(dir);
  const tracker = new ConsoleTracker();
  for (const log of logs) await feedLog(tracker, log.stream, log.path);

  const logPath = join(outputDir, 'trainer_log.jsonl');
  const read = await readTrainerLogSummary(logPath);
  const checkpoints = await listCheckpoints(outputDir);
  let log = read?.summary ?? emptySummary();
  if (!read) {
    const latest = [...checkpoints].reverse().find((c) => c.complete);
    const candidates = [join(outputDir, 'trainer_state.json'), ...(latest ? [join(latest.path, 'trainer_state.json')] : [])];
    for (const path of candidates) {
      const text = await readAll(path).catch(() => null);
      if (text === null) continue;
      try {
        log = summarizeRecords(recordsFromTrainerState(JSON.parse(text)));
        break;
      } catch {}
    }
  }

  const stamps = await Promise.all([logPath, ...logs.map((l) => l.path)].map(mtimeMs));
  const valid = stamps.filter((s): s is number => s !== null);
  const results = await readResults(outputDir, checkpoints);
  const ended = results.trainResults || results.allResults || results.predictResults;
  return {
    kind,
    dir: root,
    outputDir,
    manifest,
    hasTrainerLog: read !== null,
    log,
    console: tracker.state,
    checkpoints,
    results,
    lastActivityMs: valid.length > 0 ? Math.max(...valid) : null,
    lastRecordMs: stamps[0] ?? null,
    writerAlive: manifest || ended ? null : await outputDirWriterAlive(outputDir),
  };
}

export interface ReadRunOptions {
  now?: number | Date;
  /** Without run.json, logs older than this mean the run is not known to be alive (default 900 s). */
  staleAfterSeconds?: number;
}

/** The RunView of a run folder or of a bare LLaMA-Factory output_dir. */
export async function readRunDir(dir: string, opts: ReadRunOptions = {}): Promise<RunView> {
  const c = await readRunContents(dir);
  return buildRunView({
    id: c.manifest?.id ?? basename(c.dir),
    dir: c.dir,
    manifest: c.manifest,
    log: c.log,
    console: c.console,
    checkpoints: c.checkpoints.filter((k) => k.complete).map((k) => k.step),
    results: c.results,
    lastActivityMs: c.lastActivityMs,
    lastRecordMs: c.lastRecordMs,
    writerAlive: c.writerAlive,
    now: opts.now ?? Date.now(),
    ...(opts.staleAfterSeconds === undefined ? {} : { staleAfterSeconds: opts.staleAfterSeconds }),
  });
}

/**
 * The newest `limit` merged trainer records of a run folder or output_dir: from the view when it holds that many,
 * else read backwards from the end of trainer_log.jsonl (or from trainer_state.json when there is no log).
 */
export async function readRunRecords(dir: string, limit: number, view?: RunView): Promise<TrainerRecord[]> {
  const v = view ?? (await readRunDir(dir));
  if (limit <= v.records.length || v.recordCount <= v.records.length) return v.records.slice(Math.max(0, v.records.length - limit));
  const { outputDir } = await locateRun(dir);
  return (await readTrainerLogTail(join(outputDir, 'trainer_log.jsonl'), limit)) ?? v.records.slice(-limit);
}

/** Every record of a run's trainer_log.jsonl as written, with its attempt (false when there is no log). */
export async function streamRunRecords(dir: string, onRecord: (r: TrainerRecord) => void): Promise<boolean> {
  const { outputDir } = await locateRun(dir);
  return streamTrainerRecords(join(outputDir, 'trainer_log.jsonl'), onRecord);
}

export interface FollowRunOptions {
  /** Wait this long after a change before building a view, so a burst of lines gives one view (default 150 ms). */
  debounceMs?: number;
  /** Build a view at least this often, so the ETA counts down and staleness shows (default 1000 ms). */
  tickMs?: number;
  /** The followers' stat poll (default 2000 ms). */
  pollMs?: number;
  staleAfterSeconds?: number;
  onError?: (err: Error) => void;
}

export interface RunFollower {
  /** The latest view (null until the first one is built). */
  readonly view: RunView | null;
  close(): Promise<void>;
}

/**
 * Follows a run folder or output_dir as it is written, reading each file once by offset (not again every
 * second), and calls `onView` with a fresh RunView after changes and on a tick. Resolves once the files
 * present at the start have been read and the first view delivered.
 */
export async function followRunDir(dir: string, onView: (v: RunView) => void, opts: FollowRunOptions = {}): Promise<RunFollower> {
  const loc = await locateRun(dir);
  let manifest = loc.manifest;
  const logPath = join(loc.outputDir, 'trainer_log.jsonl');
  // Read once (going on from the cached summary of a large log), then only the new bytes: a bounded summary
  // whatever the log's length.
  const initial = await readTrainerLogSummary(logPath);
  let feeder = initial?.feeder ?? feederFor(0);
  const fromOffset = initial ? initial.feeder.offset + initial.feeder.pending : 0;
  const tracker = new ConsoleTracker();
  let checkpoints: CheckpointInfo[] = [];
  let listedFor = -1;
  let listedAt = 0;
  let results: RunResults = {};
  let writerAlive: boolean | null = null;
  const stamps = await Promise.all([join(loc.outputDir, 'trainer_log.jsonl'), ...loc.logs.map((l) => l.path)].map(mtimeMs));
  let lastRecordMs = stamps[0] ?? null;
  let lastActivityMs: number | null = Math.max(...stamps.map((t) => t ?? 0)) || null;
  let current: RunView | null = null;
  let closed = false;
  // Until the files present at the start are read, their mtimes (not the reading) say when they were written.
  let ready = false;
  let timer: NodeJS.Timeout | null = null;
  let building: Promise<void> | null = null;
  let rebuild = false;
  const report = (err: Error) => opts.onError?.(err);

  let reconciledAt = Date.now();
  const build = async () => {
    // A supervisor killed while we watch never writes run.json again: look at the process table every few seconds.
    if (manifest && !TERMINAL_STATUSES.includes(manifest.status) && Date.now() - reconciledAt > 5000) {
      reconciledAt = Date.now();
      manifest = (await reconcileRun(loc.root)).manifest ?? manifest;
    }
    // Checkpoints are listed again when the console saw a save, and otherwise every few seconds.
    const saved = tracker.state.checkpointsSaved.length;
    if (saved !== listedFor || Date.now() - listedAt > 5000) {
      checkpoints = await listCheckpoints(loc.outputDir);
      results = await readResults(loc.outputDir, checkpoints);
      if (!manifest) writerAlive = await outputDirWriterAlive(loc.outputDir);
      listedFor = saved;
      listedAt = Date.now();
    }
    current = buildRunView({
      id: manifest?.id ?? basename(loc.root),
      dir: loc.root,
      manifest,
      log: feeder.summary(),
      console: tracker.state,
      checkpoints: checkpoints.filter((k) => k.complete).map((k) => k.step),
      results,
      lastActivityMs,
      lastRecordMs,
      writerAlive,
      now: Date.now(),
      ...(opts.staleAfterSeconds === undefined ? {} : { staleAfterSeconds: opts.staleAfterSeconds }),
    });
    if (!closed) onView(current);
  };

  const refresh = (): Promise<void> => {
    if (building) {
      rebuild = true;
      return building;
    }
    building = (async () => {
      do {
        rebuild = false;
        await build().catch(report);
      } while (rebuild && !closed);
      building = null;
    })();
    return building;
  };

  const changed = () => {
    if (!ready) return;
    lastActivityMs = Date.now();
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void refresh();
    }, opts.debounceMs ?? 150);
  };

  const followers: Follower[] = [];
  const follow = (path: string, on: Parameters<typeof followFile>[1], binary = false, from?: number) =>
    followers.push(followFile(path, on, { pollMs: opts.pollMs ?? 2000, binary, ...(from === undefined ? {} : { fromOffset: from }) }));

  follow(
    logPath,
    (e) => {
      if (e.type === 'bytes') feeder.feed(e.bytes);
      else if (e.type === 'reset') feeder = feederFor(0);
      else if (e.type === 'error') return report(e.error);
      if (ready) lastRecordMs = Date.now();
      changed();
    },
    true,
    fromOffset,
  );
  for (const log of loc.logs) {
    follow(log.path, (e) => {
      if (e.type === 'data') tracker.feed(log.stream, e.text);
      else if (e.type === 'reset') tracker.resetStream(log.stream);
      else if (e.type === 'error') return report(e.error);
      changed();
    });
  }
  if (loc.kind === 'run') {
    // run.json is replaced atomically by its writers: read it whole on every change.
    follow(join(loc.root, 'run.json'), (e) => {
      if (e.type === 'error') return report(e.error);
      if (e.type !== 'data') return;
      void readManifest(loc.root)
        .then((m) => {
          if (m) manifest = m;
          changed();
        })
        .catch(report);
    });
  }

  await Promise.all(followers.map((f) => f.poll()));
  ready = true;
  await refresh();
  const tick = setInterval(() => void refresh(), opts.tickMs ?? 1000);

  return {
    get view() {
      return current;
    },
    async close() {
      closed = true;
      clearInterval(tick);
      if (timer) clearTimeout(timer);
      await Promise.all(followers.map((f) => f.close()));
      await building;
    },
  };
}
