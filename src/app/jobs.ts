/**
 * Jobs: multi-step work (the demo: data, model, training, export, verification, learning check) that must go on
 * when the terminal or the TUI goes away. A job is supervised exactly like a training run — jobs/<id>/run.json
 * (kind "job") and the same detached supervisor, which runs `node dist/app/job-main.js <dir>` — and the job
 * process records its steps in jobs/<id>/job.json, which any face can follow (attach) and render.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { MedtuneError } from '../core/errors.js';
import { compactTimestamp } from '../core/format.js';
import { TERMINAL_STATUSES, type RunManifest } from '../core/run.js';
import { readJsonIfExists, writeJsonAtomic } from '../runtime/atomic.js';
import { readManifest, writeManifest } from '../runtime/manifest.js';
import { PACKAGE_ROOT } from '../runtime/paths.js';
import { spawnSupervisor } from '../runtime/launch.js';
import { stopRun } from '../runtime/runcontrol.js';
import type { Venv } from '../runtime/venv.js';
import { markWorkspace, type Workspace } from '../runtime/workspace.js';
import type { App } from './context.js';
import type { ProgressEvent } from './events.js';

export const JobStepStatus = z.enum(['pending', 'running', 'done', 'failed', 'skipped']);
export type JobStepStatus = z.infer<typeof JobStepStatus>;

export const JobStep = z.object({
  name: z.string(),
  status: JobStepStatus,
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** One line on what the step produced (or why it failed). */
  detail: z.string().optional(),
});
export type JobStep = z.infer<typeof JobStep>;

export const JobStatus = z.enum(['queued', 'running', 'completed', 'failed', 'stopped']);
export type JobStatus = z.infer<typeof JobStatus>;

export const JobState = z.object({
  id: z.string(),
  kind: z.string(),
  status: JobStatus,
  /** The request the job was started with (its kind's own shape). */
  params: z.record(z.string(), z.unknown()),
  steps: z.array(JobStep),
  progress: z.object({ phase: z.string(), done: z.number(), total: z.number().nullable(), message: z.string().optional() }).nullable(),
  /** The training run the job started, once it has. */
  runId: z.string().nullable(),
  /** The kind's result, once completed. */
  result: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: z.string(), doing: z.string(), problem: z.string(), next: z.string().optional() }).nullable(),
  updatedAt: z.string(),
});
export type JobState = z.infer<typeof JobState>;

export const JOB_TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'stopped'];

export const jobStateFile = (dir: string) => join(dir, 'job.json');

export async function readJob(dir: string): Promise<JobState | null> {
  const raw = await readJsonIfExists<unknown>(jobStateFile(dir));
  if (raw === undefined) return null;
  const parsed = JobState.safeParse(raw);
  if (!parsed.success) {
    throw new MedtuneError({
      doing: `reading ${jobStateFile(dir)}`,
      problem: `it does not match medtune's job format (${parsed.error.issues[0]?.message})`,
      next: 'it may come from a newer medtune',
      code: 'BAD_JOB',
    });
  }
  return parsed.data;
}

export async function writeJob(dir: string, state: JobState): Promise<void> {
  await writeJsonAtomic(jobStateFile(dir), { ...state, updatedAt: new Date().toISOString() });
}

/** Creates jobs/<id>/ (whole or not at all) and starts its supervisor; returns at once. */
export async function startJob(
  app: App,
  venv: Venv,
  kind: string,
  steps: string[],
  params: Record<string, unknown>,
): Promise<{ id: string; dir: string }> {
  const entry = join(PACKAGE_ROOT, 'dist', 'app', 'job-main.js');
  if (!existsSync(entry)) {
    throw new MedtuneError({
      doing: `starting the ${kind} job`,
      problem: `${entry} is missing`,
      next: `run \`npm run build\` in ${PACKAGE_ROOT}`,
      code: 'NOT_BUILT',
    });
  }
  await markWorkspace(app.ws);
  const base = `${compactTimestamp(new Date())}-${kind}`;
  let id = base;
  for (let i = 2; existsSync(join(app.ws.jobsDir, id)); i++) id = `${base}-${i}`;
  const dir = join(app.ws.jobsDir, id);
  const pending = join(app.ws.jobsDir, `.pending-${id}`);
  await rm(pending, { recursive: true, force: true });
  await mkdir(pending, { recursive: true });
  const now = new Date().toISOString();
  const manifest: RunManifest = {
    id,
    kind: 'job',
    createdAt: now,
    updatedAt: now,
    status: 'queued',
    model: '',
    datasets: [],
    profile: '',
    outputDir: join(dir, 'output'),
    trainYaml: '',
    command: [process.execPath, entry, dir],
    env: {},
    cwd: app.ws.root,
    attempts: [],
    autoResume: 0,
  };
  const state: JobState = {
    id,
    kind,
    status: 'queued',
    params,
    steps: steps.map((name) => ({ name, status: 'pending' })),
    progress: null,
    runId: null,
    result: null,
    error: null,
    updatedAt: now,
  };
  await writeManifest(pending, manifest);
  await writeJob(pending, state);
  await rename(pending, dir);
  spawnSupervisor(venv, dir);
  return { id, dir };
}

/** Job ids, oldest first. */
export async function listJobIds(ws: Workspace): Promise<string[]> {
  const entries = await readdir(ws.jobsDir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(join(ws.jobsDir, e.name, 'job.json')))
    .map((e) => e.name)
    .sort();
}

/** Every job of the workspace, oldest first, reconciled with its supervisor. */
export async function listJobs(app: App): Promise<JobState[]> {
  const ids = await listJobIds(app.ws);
  const out = await Promise.all(ids.map((id) => readJobView(join(app.ws.jobsDir, id)).catch(() => null)));
  return out.filter((j): j is JobState => j !== null);
}

/** A job by id, unique prefix, `latest`, or folder; null when nothing matches (the caller may try runs). */
export async function findJobDir(ws: Workspace, ref: string): Promise<string | null> {
  if (existsSync(jobStateFile(ref))) return ref;
  const ids = await listJobIds(ws);
  const matches = ref === 'latest-job' ? ids.slice(-1) : ids.filter((id) => id === ref || id.startsWith(ref));
  return matches.length === 1 ? join(ws.jobsDir, matches[0]!) : null;
}

/**
 * The job's state, reconciled with its supervisor: a job process that died without recording its end (killed,
 * out of memory) shows as failed with the supervisor's cause.
 */
export async function readJobView(dir: string): Promise<JobState> {
  const state = await readJob(dir);
  if (!state)
    throw new MedtuneError({
      doing: `reading job ${basename(dir)}`,
      problem: 'job.json is missing',
      next: 'check the id in jobs/',
      code: 'NO_JOB',
    });
  if (JOB_TERMINAL.includes(state.status)) return state;
  const m = await readManifest(dir);
  if (m && TERMINAL_STATUSES.includes(m.status)) {
    const status: JobStatus = m.status === 'stopped' ? 'stopped' : 'failed';
    return {
      ...state,
      status,
      error: state.error ?? {
        code: m.cause?.code ?? 'JOB_ENDED',
        doing: `running the ${state.kind} job`,
        problem: m.cause?.summary ?? `the job process ended (${m.status}) without recording its result`,
        next: m.cause?.next ?? `see ${join(dir, 'stderr.log')}`,
      },
    };
  }
  return state;
}

/** Calls `onState` as the job changes; resolves with its final state (or when `signal` aborts: the job goes on). */
export async function watchJob(dir: string, onState: (s: JobState) => void, signal?: AbortSignal, intervalMs = 500): Promise<JobState> {
  let last = '';
  for (;;) {
    const s = await readJobView(dir);
    const key = JSON.stringify(s);
    if (key !== last) {
      onState(s);
      last = key;
    }
    if (JOB_TERMINAL.includes(s.status) || signal?.aborted) return s;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/** Stops a job: its process stops the training run it started, then ends; the supervisor records it. */
export async function stopJob(app: App, dir: string): Promise<JobState> {
  const state = await readJobView(dir);
  if (JOB_TERMINAL.includes(state.status)) return state;
  await stopRun(app.ws, dir, { graceMs: 60_000 });
  return readJobView(dir);
}

/**
 * The job process's side: step bookkeeping written to job.json. Progress is written at most twice a second;
 * step changes at once.
 */
export class JobRecorder {
  private state: JobState;
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();
  private trailing: NodeJS.Timeout | null = null;

  constructor(
    private readonly dir: string,
    initial: JobState,
  ) {
    this.state = initial;
  }

  get current(): JobState {
    return this.state;
  }

  private flush(): Promise<void> {
    const snapshot = structuredClone(this.state);
    this.lastWrite = Date.now();
    this.writing = this.writing.then(() => writeJob(this.dir, snapshot));
    return this.writing;
  }

  async update(fn: (s: JobState) => void): Promise<void> {
    fn(this.state);
    await this.flush();
  }

  progress(e: ProgressEvent): void {
    this.state.progress = e;
    if (this.trailing) return;
    const wait = Math.max(0, 500 - (Date.now() - this.lastWrite));
    // At most two writes a second, and the last event always lands.
    this.trailing = setTimeout(() => {
      this.trailing = null;
      void this.flush().catch(() => undefined);
    }, wait);
  }

  /** Runs one step: running → done (with the detail `fn` returns) or failed (and rethrows). */
  async step<T>(name: string, fn: () => Promise<T>, detail: (v: T) => string): Promise<T> {
    await this.update((s) => {
      s.status = 'running';
      const st = s.steps.find((x) => x.name === name);
      if (st) Object.assign(st, { status: 'running', startedAt: new Date().toISOString() });
      s.progress = null;
    });
    try {
      const v = await fn();
      await this.update((s) => {
        const st = s.steps.find((x) => x.name === name);
        if (st) Object.assign(st, { status: 'done', endedAt: new Date().toISOString(), detail: detail(v) });
        s.progress = null;
      });
      return v;
    } catch (err) {
      await this.update((s) => {
        const st = s.steps.find((x) => x.name === name);
        if (st)
          Object.assign(st, {
            status: 'failed',
            endedAt: new Date().toISOString(),
            detail: err instanceof MedtuneError ? err.problem : (err as Error).message,
          });
      });
      throw err;
    }
  }
}
