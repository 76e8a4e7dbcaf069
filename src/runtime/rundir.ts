/**
 * Reads a run from its files: a medtune run folder (runs/<id>/ with run.json, stdout.log, stderr.log,
 * output/) or any LLaMA-Factory output_dir (made by LLaMA Board or a plain CLI run).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import type { RunManifest, RunView } from '../core/run.js';
import { buildRunView } from '../core/runview.js';
import { ConsoleTracker, type ConsoleState } from '../core/stderr.js';
import { parseTrainerLog, recordsFromTrainerState, type TrainerLogParse } from '../core/trainerlog.js';
import { readAll, readHeadTail } from './follow.js';
import { readManifest } from './runstore.js';

export interface CheckpointInfo {
  step: number;
  path: string;
  /** trainer_state.json (written last by the Trainer) parses and model or adapter weights are there. */
  complete: boolean;
}

// Full, LoRA and sharded layouts; DeepSpeed keeps its shards in global_step<N>/ and names them in `latest`.
const WEIGHTS = [
  'adapter_model.safetensors',
  'adapter_model.bin',
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
  'latest',
];

async function nonEmptyFile(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  return st !== null && st.isFile() && st.size > 0;
}

async function checkpointComplete(path: string): Promise<boolean> {
  const state = await readAll(join(path, 'trainer_state.json')).catch(() => null);
  if (state === null) return false;
  try {
    const parsed: unknown = JSON.parse(state);
    if (parsed === null || typeof parsed !== 'object' || typeof (parsed as { global_step?: unknown }).global_step !== 'number') return false;
  } catch {
    return false;
  }
  for (const name of WEIGHTS) if (await nonEmptyFile(join(path, name))) return true;
  return false;
}

/** The `checkpoint-N` folders of an output_dir, by step; none when the folder does not exist. */
export async function listCheckpoints(outputDir: string): Promise<CheckpointInfo[]> {
  const entries = await readdir(outputDir, { withFileTypes: true }).catch(() => []);
  const out: CheckpointInfo[] = [];
  for (const e of entries) {
    const m = /^checkpoint-(\d+)$/.exec(e.name);
    if (!m || !e.isDirectory()) continue;
    const path = join(outputDir, e.name);
    out.push({ step: Number(m[1]), path, complete: await checkpointComplete(path) });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The path of the newest complete checkpoint, or null. */
export async function latestCompleteCheckpoint(outputDir: string): Promise<string | null> {
  const all = await listCheckpoints(outputDir);
  for (let i = all.length - 1; i >= 0; i--) if (all[i]?.complete) return all[i]?.path ?? null;
  return null;
}

/** Everything a run's files say, before it is condensed into a RunView. */
export interface RunDirContents {
  kind: 'run' | 'output';
  dir: string;
  outputDir: string;
  manifest: RunManifest | null;
  /** trainer_log.jsonl parsed; null when it is absent (records may then come from trainer_state.json). */
  trainerLog: TrainerLogParse | null;
  records: TrainerLogParse['records'];
  console: ConsoleState;
  checkpoints: CheckpointInfo[];
  results: { trainResults: boolean; allResults: boolean };
  lastActivityMs: number | null;
  lastRecordMs: number | null;
}

const OUTPUT_MARKERS = [
  'trainer_log.jsonl',
  'trainer_state.json',
  'all_results.json',
  'train_results.json',
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
  const own = await readManifest(root);
  if (own) return { root, manifest: own };
  const parent = await readManifest(dirname(root)).catch(() => undefined);
  if (parent && outputDirOf(parent) === root) return { root: dirname(root), manifest: parent };
  return { root, manifest: null };
}

export async function readRunContents(dir: string): Promise<RunDirContents> {
  const { root, manifest } = await findRun(dir);
  let kind: 'run' | 'output';
  let outputDir: string;
  const tracker = new ConsoleTracker();
  const logs: string[] = [];
  if (manifest) {
    kind = 'run';
    outputDir = outputDirOf(manifest);
    logs.push(join(root, 'stdout.log'), join(root, 'stderr.log'));
    await feedLog(tracker, 'stdout', join(root, 'stdout.log'));
    await feedLog(tracker, 'stderr', join(root, 'stderr.log'));
  } else if (await isOutputDir(root)) {
    kind = 'output';
    outputDir = root;
    // LLaMA Board's child writes its logger lines to running_log.txt ([main]: everything to webui_subprocess.log).
    for (const name of ['running_log.txt', 'webui_subprocess.log']) {
      logs.push(join(root, name));
      await feedLog(tracker, 'stderr', join(root, name));
    }
  } else {
    const exists = await stat(root).then((s) => s.isDirectory()).catch(() => false);
    throw new MedtuneError({
      doing: `reading ${dir}`,
      problem: exists
        ? 'it is neither a medtune run (no run.json) nor a LLaMA-Factory output_dir (no trainer_log.jsonl, trainer_state.json or checkpoint-*)'
        : 'no such folder',
      next: 'pass a run id (`medtune runs` lists them), runs/<id>, or the output_dir of a LLaMA-Factory run',
      code: 'NOT_A_RUN',
    });
  }

  const logPath = join(outputDir, 'trainer_log.jsonl');
  const logText = await readAll(logPath);
  const trainerLog = logText === null ? null : parseTrainerLog(logText);
  const checkpoints = await listCheckpoints(outputDir);
  let records = trainerLog?.records ?? [];
  if (!trainerLog) {
    const latest = [...checkpoints].reverse().find((c) => c.complete);
    const candidates = [join(outputDir, 'trainer_state.json'), ...(latest ? [join(latest.path, 'trainer_state.json')] : [])];
    for (const path of candidates) {
      const text = await readAll(path).catch(() => null);
      if (text === null) continue;
      try {
        records = recordsFromTrainerState(JSON.parse(text));
        break;
      } catch {
        continue;
      }
    }
  }

  const stamps = await Promise.all([logPath, ...logs].map(mtimeMs));
  const valid = stamps.filter((s): s is number => s !== null);
  return {
    kind,
    dir: root,
    outputDir,
    manifest,
    trainerLog,
    records,
    console: tracker.state,
    checkpoints,
    results: {
      trainResults: await nonEmptyFile(join(outputDir, 'train_results.json')),
      allResults: await nonEmptyFile(join(outputDir, 'all_results.json')),
    },
    lastActivityMs: valid.length > 0 ? Math.max(...valid) : null,
    lastRecordMs: stamps[0] ?? null,
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
    records: c.records,
    console: c.console,
    checkpoints: c.checkpoints.filter((k) => k.complete).map((k) => k.step),
    results: c.results,
    lastActivityMs: c.lastActivityMs,
    lastRecordMs: c.lastRecordMs,
    now: opts.now ?? Date.now(),
    ...(opts.staleAfterSeconds === undefined ? {} : { staleAfterSeconds: opts.staleAfterSeconds }),
  });
}
