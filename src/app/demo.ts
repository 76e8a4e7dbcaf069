/**
 * The demo: the whole pipeline offline on the CPU — sample data, the tiny Qwen2-VL, a LoRA run, merge, verify,
 * learning check. The faces start it the same way (`startDemo`): the venv is made ready in the caller (it
 * reports package by package), then everything else runs as a supervised job that outlives the terminal or the
 * TUI and can be attached to.
 */
import { join } from 'node:path';
import { VAL_SUFFIX } from '../core/dataset.js';
import { pct } from '../core/evalreport.js';
import { MedtuneError } from '../core/errors.js';
import { TINY_TRAIN_VALUES } from '../core/models.js';
import { cmd, type NextStep } from '../core/nextstep.js';
import { overridesOf } from '../core/trainconfig.js';
import { watchRun } from '../runtime/attach.js';
import { prepareDataset, readDatasetRows } from '../runtime/datasets.js';
import { buildTinyModel } from '../runtime/models.js';
import { ensureVenv, type Venv } from '../runtime/venv.js';
import { learningVerdict, type LearningVerdict } from '../runtime/evaluate.js';
import type { App } from './context.js';
import { checkLearning } from './eval.js';
import { ignoreProgress, type OnProgress } from './events.js';
import { exportAndVerify } from './exports.js';
import { type JobRecorder, readJobView, startJob, watchJob, JOB_TERMINAL, type JobState } from './jobs.js';
import { startTrain } from './train.js';

/**
 * Training settings of the demo, measured on the 240-image sample set (bench/results/tiny-model.md, docs/performance.md):
 * LoRA rank 8 never learns to name the modality on the 64-wide tiny model (0/43 held-out images after 990 steps);
 * rank 64 (full rank for it) at lr 5e-3 for 10 epochs names all 43 (the base model: 0).
 */
export const DEMO_TRAIN = {
  dataset: 'medtrinity-sample',
  epochs: 10,
  overrides: [...overridesOf(TINY_TRAIN_VALUES), 'logging_steps=5', 'save_steps=100', 'save_total_limit=2', 'warmup_steps=0.05'],
  valRatio: 0.2,
};

export interface DemoRequest {
  epochs?: number;
  /** Extra `key=value` overrides after the demo's own. */
  overrides?: string[];
}

export const DEMO_STEPS = ['data', 'model', 'train', 'export', 'learn'] as const;

export interface DemoResult {
  ok: boolean;
  workspace: string;
  dataset: { name: string; dir: string; train: number; val: number };
  model: { dir: string };
  run: { id: string; dir: string; status: string; steps: number; firstLoss: number | null; lastLoss: number | null };
  export: { name: string; dir: string } | null;
  verify: { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] } | null;
  learningCheck: LearningVerdict | null;
  /** Seconds per step. */
  times: Record<string, number>;
  /** A held-out image of the demo's dataset, for the `ask` it suggests. */
  sampleImage?: string | null;
}

/** What to try after the demo, each a command that works in its workspace. */
export function demoNextSteps(res: DemoResult): { why: string; step: NextStep }[] {
  const out: { why: string; step: NextStep }[] = [{ why: 'the runs, exports and servers', step: cmd('runs') }];
  if (res.export) {
    const model = `export:${res.export.name}`;
    const question = 'Which imaging modality is this?';
    out.push({ why: 'score the export on the held-out split', step: cmd('eval', model, '-n', '8') });
    if (res.sampleImage) out.push({ why: 'ask it about a held-out image', step: cmd('ask', model, '--image', res.sampleImage, question) });
    out.push({ why: 'ask it without an image', step: cmd('ask', model, 'What is a CT scan?') });
    out.push({ why: 'serve it (OpenAI-compatible API)', step: cmd('serve', model) });
  }
  out.push({ why: 'open the TUI on this workspace', step: cmd() });
  return out;
}

/** The venv the demo needs, built if missing (minutes on a fresh machine, with per-package progress). */
export async function readyVenv(app: App, onProgress: OnProgress = ignoreProgress): Promise<Venv> {
  const { venv } = await ensureVenv({
    env: app.env,
    onEvent: (e) => {
      if (e.kind === 'phase' && e.phase !== 'done') onProgress({ phase: 'python venv', done: 0, total: null, message: e.message });
      if (e.kind === 'package') onProgress({ phase: 'python venv', done: 0, total: null, message: `${e.action} ${e.name.slice(0, 60)}` });
    },
  });
  app.useVenv(venv);
  return venv;
}

/** Readies the venv, then starts the demo job; resolves with its id and folder once it is running detached. */
export async function startDemo(
  app: App,
  req: DemoRequest = {},
  onProgress: OnProgress = ignoreProgress,
): Promise<{ id: string; dir: string; venvSeconds: number }> {
  const t = Date.now();
  const venv = await readyVenv(app, onProgress);
  const venvSeconds = Math.round((Date.now() - t) / 1000);
  const job = await startJob(app, venv, 'demo', [...DEMO_STEPS], {
    epochs: req.epochs ?? DEMO_TRAIN.epochs,
    overrides: req.overrides ?? [],
  });
  return { ...job, venvSeconds };
}

/**
 * Follows a demo job until its training run exists (relaying the job's progress) and returns the run id, for a
 * face that shows the run while the job goes on. Rejects with the job's error when it fails first.
 */
export async function demoRun(dir: string, onProgress: OnProgress = ignoreProgress, signal?: AbortSignal): Promise<string> {
  const ctl = new AbortController();
  signal?.addEventListener('abort', () => ctl.abort(), { once: true });
  const final = await watchJob(
    dir,
    (s) => {
      if (s.progress) onProgress(s.progress);
      if (s.runId) ctl.abort();
    },
    ctl.signal,
  );
  if (final.runId) return final.runId;
  throw jobError(final);
}

export function jobError(s: JobState): MedtuneError {
  if (s.error) return new MedtuneError({ doing: s.error.doing, problem: s.error.problem, next: s.error.next, code: s.error.code });
  return new MedtuneError({
    doing: `running the ${s.kind} job ${s.id}`,
    problem: `it ended ${s.status}`,
    next: ['see ', cmd('attach', s.id)],
    code: 'JOB_ENDED',
  });
}

export { readJobView, JOB_TERMINAL };

/** The demo's steps, run inside the job process (job-main.ts). */
export async function runDemoJob(app: App, rec: JobRecorder, req: DemoRequest): Promise<DemoResult> {
  const times: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>, detail: (v: T) => string): Promise<T> => {
    const t = Date.now();
    const v = await rec.step(name, fn, detail);
    times[name] = Math.round((Date.now() - t) / 1000);
    return v;
  };
  const progress =
    (prefix: string): OnProgress =>
    (e) =>
      rec.progress({ ...e, phase: `${prefix}: ${e.phase}` });
  const venv = await app.venv();
  const ws = app.ws;
  // A dataset of the demo's name that the user prepared with other options (the Data screen's sample set holds out
  // 5%) stays as it is: the demo prepares its own beside it.
  let name: string = DEMO_TRAIN.dataset;
  const data = await timed(
    'data',
    async () => {
      const prepare = (n: string) =>
        prepareDataset(ws, venv, { source: 'sample', name: n, valRatio: DEMO_TRAIN.valRatio }, progress('data'));
      try {
        return await prepare(name);
      } catch (err) {
        if (!(err instanceof MedtuneError) || err.code !== 'DATASET_EXISTS') throw err;
        name = `${DEMO_TRAIN.dataset}-demo`;
        return prepare(name);
      }
    },
    (d) => `${d.train} train / ${d.val} val samples`,
  );
  const model = await timed(
    'model',
    () =>
      buildTinyModel(ws, venv, (p) =>
        rec.progress({ phase: `tiny model: ${p.phase}`, done: p.done ?? 0, total: p.total ?? null, message: p.message }),
      ),
    (m) => `tiny Qwen2-VL at ${m.dir}`,
  );
  const run = await timed(
    'train',
    async () => {
      const { manifest, plan } = await startTrain(
        app,
        {
          model: model.dir,
          datasets: [name],
          profile: 'cpu',
          overrides: [`num_train_epochs=${req.epochs ?? DEMO_TRAIN.epochs}`, ...DEMO_TRAIN.overrides, ...(req.overrides ?? [])],
          name: 'demo',
        },
        { onProgress: progress('train') },
      );
      await rec.update((s) => {
        s.runId = manifest.id;
      });
      const dir = join(ws.runsDir, manifest.id);
      const view = await watchRun(dir, (v) =>
        rec.progress({
          phase: 'train',
          done: v.step,
          total: v.totalSteps ?? plan.totalSteps,
          message: v.loss !== null ? `loss ${v.loss.toFixed(3)}` : v.status,
        }),
      );
      if (view.status !== 'completed') {
        throw new MedtuneError({
          doing: `training the demo run ${manifest.id}`,
          problem: view.cause?.summary ?? `the run ended ${view.status}`,
          next: view.cause?.next ?? `medtune logs ${manifest.id}`,
          code: view.cause?.code ?? 'RUN_NOT_COMPLETED',
        });
      }
      const losses = view.records.filter((x) => x.loss !== undefined).map((x) => x.loss!);
      return {
        id: manifest.id,
        dir,
        status: view.status,
        steps: view.step,
        firstLoss: losses[0] ?? null,
        lastLoss: losses[losses.length - 1] ?? null,
      };
    },
    (r) => `run ${r.id}: ${r.steps} steps, loss ${r.firstLoss?.toFixed(3)} → ${r.lastLoss?.toFixed(3)}`,
  );

  const exported = await timed(
    'export',
    () => exportAndVerify(app, { run: run.id }, progress('export')),
    (e) => `${e.export.dir}: verification ${e.ok ? 'passed' : 'FAILED'}`,
  );
  // The export and its verification are one step; the time split keeps the demo's report as it was.
  times.verify = Math.max(0, times.export! - exported.export.seconds);
  times.export = exported.export.seconds;
  const check = await timed(
    'learn',
    () => checkLearning(app, { run: run.id, export: exported.export.name }, progress('learning check')),
    (c) =>
      `tuned ${pct(c.tunedAccuracy)} vs base ${pct(c.baseAccuracy)} (chance ${pct(c.chance)}) of ${c.samples} held-out images after ${c.steps} steps`,
  );
  return {
    ok: exported.ok,
    workspace: ws.root,
    dataset: { name, dir: join(ws.dataDir, name), train: data.train, val: data.val },
    model: { dir: model.dir },
    run,
    export: { name: exported.export.name, dir: exported.export.dir },
    verify: exported.verify ? { ok: exported.verify.ok, checks: exported.verify.checks } : null,
    learningCheck: learningVerdict(check),
    times,
    sampleImage: await readDatasetRows(ws, `${name}${VAL_SUFFIX}`).then(
      (rows) => rows.find((r) => r.images?.length)?.images?.[0] ?? null,
      () => null,
    ),
  };
}
