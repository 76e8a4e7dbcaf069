/**
 * Runs after they started: reading them (cheaply, over and over, as a TUI does), their log tails, attaching,
 * stopping and resuming. Jobs (the demo) are runs too, and attach follows them the same way.
 */
import { stat } from 'node:fs/promises';
import { MedtuneError } from '../core/errors.js';
import { basename, dirname, join } from 'node:path';
import {
  ATTEMPT_MARK,
  latestStatuses,
  TERMINAL_STATUSES,
  type RunLeaves,
  type RunManifest,
  type RunView,
  type TrainerRecord,
} from '../core/run.js';
import { watchRun } from '../runtime/attach.js';
import { tailLines } from '../runtime/files.js';
import { listRunIds, newestRun, readManifest, resolveRunDir, runPaths } from '../runtime/manifest.js';
import { runLeaves, type SkippedCheckpoint } from '../runtime/checkpoints.js';
import { resumeRun, stopRun, type StopOptions } from '../runtime/runcontrol.js';
import { followRunDir, readRunDir, readRunRecords, streamRunRecords, type RunFollower } from '../runtime/rundir.js';
import type { App } from './context.js';
import { findJobDir } from './jobs.js';

/** A run nobody has looked at for this long stops being followed. */
const FOLLOW_IDLE_MS = 30_000;

export interface RunReader {
  list(): Promise<RunView[]>;
  read(ref: string): Promise<RunView>;
  /** The newest lines of the run's stdout then stderr (tracebacks land on stderr, so they come last). */
  log(ref: string, lines: number): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Reads runs for a viewer that asks every second. Runs that are going are followed (each log read once, by
 * offset); ended runs are read once and kept until run.json changes (a resume), because their logs can be
 * hundreds of MB.
 */
export function createRunReader(app: App): RunReader {
  const ended = new Map<string, { mtimeMs: number; view: RunView }>();
  const followed = new Map<string, { follower: Promise<RunFollower>; lastRead: number }>();
  const unfollow = (dir: string) => {
    const f = followed.get(dir);
    followed.delete(dir);
    void f?.follower.then(
      (x) => x.close(),
      () => undefined,
    );
  };
  const follow = async (dir: string): Promise<RunView> => {
    let f = followed.get(dir);
    if (!f) {
      f = { follower: followRunDir(dir, () => {}), lastRead: Date.now() };
      followed.set(dir, f);
    }
    f.lastRead = Date.now();
    for (const [d, other] of followed) if (Date.now() - other.lastRead > FOLLOW_IDLE_MS) unfollow(d);
    try {
      return (await f.follower).view ?? (await readRunDir(dir));
    } catch (err) {
      unfollow(dir);
      throw err;
    }
  };
  const isEnded = (status: string) => (TERMINAL_STATUSES as readonly string[]).includes(status);
  const readDirOnce = async (dir: string): Promise<RunView> => {
    const mtimeMs = (await stat(join(dir, 'run.json')).catch(() => null))?.mtimeMs ?? -1;
    const hit = ended.get(dir);
    if (hit && hit.mtimeMs === mtimeMs) return hit.view;
    // A run whose run.json says it has ended is read once, without a follower (its log may be hundreds of MB).
    const manifest = mtimeMs >= 0 ? await readManifest(dir).catch(() => undefined) : undefined;
    if (manifest && isEnded(manifest.status)) {
      const view = await readRunDir(dir);
      ended.set(dir, { mtimeMs, view });
      unfollow(dir);
      return view;
    }
    const view = await follow(dir);
    if (isEnded(view.status) && mtimeMs >= 0) {
      // One last full read: the follower's view may trail the files by its debounce.
      const final = await readRunDir(dir);
      ended.set(dir, { mtimeMs, view: final });
      unfollow(dir);
      return final;
    }
    ended.delete(dir);
    return view;
  };
  // Callers asking for a run while it is being read (a screen polling during a long first read) share that read.
  const inflight = new Map<string, Promise<RunView>>();
  const readDir = (dir: string): Promise<RunView> => {
    let p = inflight.get(dir);
    if (!p) {
      p = readDirOnce(dir).finally(() => inflight.delete(dir));
      inflight.set(dir, p);
    }
    return p;
  };
  return {
    async list() {
      const ids = await listRunIds(app.ws);
      return Promise.all(ids.map((id) => readDir(join(app.ws.runsDir, id))));
    },
    async read(ref) {
      return readDir(await resolveRunDir(app.ws, ref));
    },
    async log(ref, lines) {
      const paths = runPaths(await resolveRunDir(app.ws, ref));
      const [out, err] = await Promise.all([tailLines(paths.stdout, lines), tailLines(paths.stderr, lines)]);
      // The supervisor marks each attempt in both files; once is enough.
      return [...out.filter((l) => !l.startsWith(ATTEMPT_MARK)), ...err].slice(-lines);
    },
    async close() {
      const all = [...followed.values()];
      followed.clear();
      await Promise.all(
        all.map((f) =>
          f.follower.then(
            (x) => x.close(),
            () => undefined,
          ),
        ),
      );
    },
  };
}

/** Every run, read once (for a one-shot listing). */
export async function listRuns(app: App): Promise<RunView[]> {
  const ids = await listRunIds(app.ws);
  return Promise.all(ids.map((id) => readRunDir(join(app.ws.runsDir, id))));
}

/** A run by id, prefix, `latest` or folder. */
export async function runDir(app: App, ref: string): Promise<string> {
  return resolveRunDir(app.ws, ref);
}

/**
 * What `status` and `attach` read: a run (as runDir), or the path of any folder, read as the LLaMA-Factory
 * output_dir it is (a run that LLaMA Board or a plain `llamafactory-cli train` writes, medtune did not launch).
 */
export async function runOrOutputDir(app: App, ref: string): Promise<string> {
  if (ref !== 'latest') {
    const st = await stat(ref).catch(() => null);
    if (st?.isDirectory()) return ref;
    // A file of such a folder (its trainer_log.jsonl, a run's run.json): the folder it is in.
    if (st?.isFile() && FOLDER_FILES.has(basename(ref))) return dirname(ref);
  }
  return resolveRunDir(app.ws, ref);
}

const FOLDER_FILES = new Set(['trainer_log.jsonl', 'trainer_state.json', 'all_results.json', 'run.json']);

/** Follows a run or an output_dir until it ends (or `signal` aborts: the run goes on); resolves with its last view. */
export async function attachRun(app: App, ref: string, onView: (v: RunView) => void, signal?: AbortSignal): Promise<RunView> {
  return watchRun(await runOrOutputDir(app, ref), onView, { signal });
}

/** Stops a run; `leaves` says what it left to continue from (a checkpoint, the adapter saved at the stop). */
export async function stop(
  app: App,
  ref: string,
  opts: StopOptions = {},
): Promise<{ manifest: RunManifest; signals: string[]; leaves: RunLeaves }> {
  const r = await stopRun(app.ws, ref, opts);
  return { ...r, leaves: await runLeaves(r.manifest) };
}

export async function resume(app: App, ref: string): Promise<{ manifest: RunManifest; checkpoint: string; skipped: SkippedCheckpoint[] }> {
  return resumeRun(app.ws, await app.venv(), ref);
}

/** One run or output_dir as `status` shows it: its view, and its newest `records` trainer_log records when asked. */
export async function runStatus(
  app: App,
  ref: string,
  opts: { records?: number } = {},
): Promise<{ view: RunView; records?: TrainerRecord[] }> {
  const dir = await runOrOutputDir(app, ref);
  const view = await readRunDir(dir);
  return opts.records === undefined ? { view } : { view, records: await readRunRecords(dir, Math.max(0, opts.records), view) };
}

/** Every trainer_log record of a run or output_dir, as written, in order. */
export async function streamRunStatus(app: App, ref: string, onRecord: (r: TrainerRecord) => void): Promise<void> {
  await streamRunRecords(await runOrOutputDir(app, ref), onRecord);
}

export type LogName = 'stderr' | 'stdout' | 'supervisor';

/** The newest lines of a run's (or a job's) log; a log can be gigabytes, so only its end is read. */
export async function runLogTail(app: App, ref: string, log: LogName, lines: number): Promise<{ file: string; lines: string[] }> {
  const dir = (ref === 'latest' ? null : await findJobDir(app.ws, ref)) ?? (await resolveRunDir(app.ws, ref));
  const file = join(dir, log === 'supervisor' ? 'supervisor.log' : `${log}.log`);
  // tqdm redraws are folded to their last state.
  return { file, lines: await tailLines(file, lines, Math.max(64 * 1024, lines * 2048)) };
}

/**
 * The run `latest` means for a verb (core/run.ts latestStatuses), with a line saying which it took; a face prints
 * the line. Throws when there is none, naming the newest run of another status to use by name.
 */
export async function latestRun(app: App, verb: string): Promise<{ id: string; line: string }> {
  const statuses = latestStatuses(verb);
  const m = await newestRun(app.ws, statuses);
  const what = statuses ? `the newest ${statuses.join(' or ')} run` : 'the newest run';
  if (m) return { id: m.id, line: `latest = run ${m.id} (${what})` };
  const any = await newestRun(app.ws, null);
  // Named, a stopped or failed run is used as it is: only worth saying when it saved an adapter.
  const usable = any && (await runLeaves(any)).adapter !== null;
  const named =
    any && `medtune ${verb} ${verb === 'compare' ? '--tuned ' : ''}${any.id}${verb === 'ask' ? ' "QUESTION" --image FILE' : ''}`;
  throw new MedtuneError({
    doing: `choosing the latest run for ${verb}`,
    problem: any
      ? `no run has completed yet (the newest, ${any.id}, is ${any.status}${usable ? '' : ' and saved no adapter'})`
      : `no runs in ${app.ws.runsDir}`,
    next: usable ? `name it to use it anyway: \`${named}\`` : 'train one with `medtune train`',
    code: 'NO_RUN',
  });
}
