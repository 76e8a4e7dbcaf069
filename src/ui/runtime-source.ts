/**
 * The WorkspaceSource the real TUI uses: every method is a thin mapping onto the runtime modules
 * (datasets, models, runs, exporter, verify, rundir) and their plain results onto the UI's data types.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { MedtuneError } from '../core/errors.js';
import { mixOverrides } from '../core/mix.js';
import type { CheckResult } from '../core/dataset.js';
import type { SideMetrics } from '../core/evalreport.js';
import { TERMINAL_STATUSES, type RunView } from '../core/run.js';
import { parseConfigYaml, type TrainConfig } from '../core/trainconfig.js';
import type { FieldValue } from '../core/trainform.js';
import { listDataSources, listDatasets, prepareDataset, previewDataset, checkDataset } from '../runtime/datasets.js';
import { buildTinyModel, listModels } from '../runtime/models.js';
import { planRun, preflight, launchRun, loadProfiles, stopRun, resumeRun, type RunPlan, type TrainRequest } from '../runtime/runcontrol.js';
import { followRunDir, readRunDir, type RunFollower } from '../runtime/runreader.js';
import { readHeadTail } from '../runtime/follow.js';
import { compareModels } from '../runtime/infer.js';
import { exportRun } from '../runtime/exporter.js';
import { verifyExport } from '../runtime/verify.js';
import { listRunIds, resolveRunDir, runPaths } from '../runtime/manifest.js';
import { readJsonIfExists } from '../runtime/atomic.js';
import { runHelper } from '../runtime/helpers.js';
import { ensureVenv, requireVenv, type Venv } from '../runtime/venv.js';
import { TEMPLATES_DIR } from '../runtime/paths.js';
import type { Workspace } from '../runtime/workspace.js';
import type {
  CheckItem, CompareSide, DatasetSummary, ExportSummary, OnProgress, RgbImage, TrainParams, TrainPlan, WorkspaceSource,
} from './source.js';

/** What the demo trains: the sample set, a CPU profile, a short schedule (the CLI's `demo` uses the same). */
export interface DemoSettings {
  dataset: string;
  epochs: number;
  overrides: string[];
}

export interface RuntimeSourceOptions {
  demo: DemoSettings;
  env?: NodeJS.ProcessEnv;
}

/** Datasets up to this many rows are checked row by row during a pre-flight; bigger ones on request (Data › c). */
const CHECK_ROWS_IN_PREFLIGHT = 5000;
/** A run nobody has looked at for this long stops being followed. */
const FOLLOW_IDLE_MS = 30_000;
/** Bytes read from the end of each log for a tail. */
const TAIL_BYTES = 64 * 1024;
const ATTEMPT_MARK = '===== medtune attempt';

const Thumbnails = z.object({
  images: z.array(z.union([
    z.object({ path: z.string(), width: z.number().int(), height: z.number().int(), rgb: z.string() }),
    z.object({ path: z.string(), error: z.string() }),
  ])),
});

async function tailLines(file: string, lines: number): Promise<string[]> {
  const r = await readHeadTail(file, 0, TAIL_BYTES);
  if (!r) return [];
  const all = r.text.split('\n');
  // The first line of a window that starts mid-file is a fragment.
  return (r.skipped > 0 ? all.slice(1) : all).filter((l) => l.trim() !== '').slice(-lines);
}

function sideScore(m: SideMetrics): string | null {
  const parts: string[] = [];
  if (m.modalityScored > 0) parts.push(`modality ${m.modalityCorrect}/${m.modalityScored}`);
  if (m.rougeL !== null) parts.push(`ROUGE-L ${m.rougeL.toFixed(2)}`);
  if (m.bleu4 !== null) parts.push(`BLEU-4 ${m.bleu4.toFixed(2)}`);
  return parts.length ? parts.join(' · ') : null;
}

function overrideList(values: Record<string, FieldValue>): string[] {
  return Object.entries(values).map(([k, v]) => `${k}=${v}`);
}

function checkItems(r: CheckResult): CheckItem[] {
  const items: CheckItem[] = r.entries.map((e) => ({
    name: e.entry,
    level: !e.checked ? 'warn' : e.bad_rows ? 'fail' : 'ok',
    detail: !e.checked ? e.why ?? 'not checked' : `${e.rows ?? '?'} rows${e.bad_rows ? `, ${e.bad_rows} bad` : ', all usable'}`,
  }));
  for (const [kind, n] of Object.entries(r.by_problem)) {
    const first = r.problems.find((p) => p.kind === kind);
    items.push({
      name: kind,
      level: 'fail',
      detail: `${n} row${n === 1 ? '' : 's'}${first ? `, e.g. ${first.file}:${first.line}: ${first.problem}` : ''}`,
      next: 'fix those rows (or prepare the dataset again), then check again',
    });
  }
  return items;
}

export function createRuntimeSource(ws: Workspace, opts: RuntimeSourceOptions): WorkspaceSource {
  const env = opts.env ?? process.env;
  let venvPromise: Promise<Venv> | null = null;
  const venv = (): Promise<Venv> => {
    venvPromise ??= requireVenv(env).catch((err: unknown) => {
      venvPromise = null;
      throw err;
    });
    return venvPromise;
  };
  /** Parameters whose pre-flight passed in this session: launching them again skips LLaMA-Factory's 8 s parse. */
  const passed = new Set<string>();
  /**
   * The run list and the monitor read runs every second. Runs that are going are followed (each log read
   * once, by offset); ended runs are read once and kept until run.json changes (a resume), because their
   * logs can be hundreds of MB.
   */
  const ended = new Map<string, { mtimeMs: number; view: RunView }>();
  const followed = new Map<string, { follower: Promise<RunFollower>; lastRead: number }>();
  const unfollow = (dir: string) => {
    const f = followed.get(dir);
    followed.delete(dir);
    void f?.follower.then((x) => x.close(), () => undefined);
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
  const readRun = async (dir: string): Promise<RunView> => {
    const mtimeMs = (await stat(join(dir, 'run.json')).catch(() => null))?.mtimeMs ?? -1;
    const hit = ended.get(dir);
    if (hit && hit.mtimeMs === mtimeMs) return hit.view;
    const view = await follow(dir);
    if (view.status !== 'unknown' && TERMINAL_STATUSES.includes(view.status) && mtimeMs >= 0) {
      // One last full read: the follower's view may trail the files by its debounce.
      const final = await readRunDir(dir);
      ended.set(dir, { mtimeMs, view: final });
      unfollow(dir);
      return final;
    }
    ended.delete(dir);
    return view;
  };

  const request = async (p: TrainParams): Promise<TrainRequest> => {
    const listed = await listDatasets(ws);
    const vals = p.datasets.map((d) => `${d.name}_val`).filter((v) => listed.some((l) => l.entry === v));
    const valSize = Number(p.overrides.val_size ?? 0);
    return {
      model: join(ws.modelsDir, p.model),
      datasets: p.datasets.map((d) => d.name),
      // LLaMA-Factory refuses val_size together with eval_dataset: the form's share wins when set.
      evalDataset: valSize > 0 || vals.length === 0 ? undefined : vals.join(','),
      profile: p.profile,
      overrides: [...overrideList(p.overrides), ...mixOverrides(p.datasets)],
    };
  };

  const thumbnails = async (paths: string[], maxSide: number): Promise<Map<string, RgbImage>> => {
    const out = new Map<string, RgbImage>();
    const existing = paths.filter((p) => existsSync(p));
    if (existing.length === 0) return out;
    const ev = await runHelper('thumbnails', ['--max-side', String(maxSide), ...existing], { venv: await venv(), doing: 'decoding images for the preview' });
    for (const img of Thumbnails.parse(ev).images) {
      if ('rgb' in img) out.set(img.path, { width: img.width, height: img.height, rgb: new Uint8Array(Buffer.from(img.rgb, 'base64')) });
    }
    return out;
  };

  const planChecks = async (plan: RunPlan, req: TrainRequest, onProgress: OnProgress, signal?: AbortSignal): Promise<CheckItem[]> => {
    const checks: CheckItem[] = [];
    checks.push({ name: 'schedule', level: 'ok', detail: `${plan.samples} samples → ${plan.totalSteps} steps` });
    const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
    checks.push(plan.disk
      ? { name: 'disk', level: plan.disk.fits ? 'ok' : 'fail', detail: `needs ~${gib(plan.disk.neededBytes)}, ${gib(plan.disk.freeBytes)} free`, next: plan.disk.fits ? undefined : 'free disk, lower save_total_limit, or set save_only_model' }
      : { name: 'disk', level: 'warn', detail: 'no estimate (the model config has no text config)' });
    checks.push(plan.profile.vramGiB > 0
      ? { name: 'VRAM', level: plan.warnings.some((w) => /sized for/.test(w)) ? 'fail' : 'ok', detail: `profile sized for ${plan.profile.vramGiB} GB cards` }
      : { name: 'VRAM', level: 'ok', detail: 'CPU profile: no GPU memory needed' });
    for (const w of plan.warnings.filter((x) => !/sized for/.test(x))) {
      checks.push({ name: 'config', level: /needs a GPU|too short|deletes trainer_log|breaks LLaMA-Factory/.test(w) ? 'fail' : 'warn', detail: w });
    }
    if (plan.samples <= CHECK_ROWS_IN_PREFLIGHT) {
      for (const name of req.datasets) {
        const r = await checkDataset(ws, await venv(), name, (p) => onProgress({ ...p, phase: `checking ${name}` }), signal);
        checks.push({ name: `dataset ${name}`, level: r.ok ? 'ok' : 'fail', detail: r.ok ? `${r.rows} rows, all usable` : `${r.bad_rows} of ${r.rows} rows are bad`, next: r.ok ? undefined : 'Data screen › c shows which rows' });
      }
    } else {
      checks.push({ name: 'datasets', level: 'warn', detail: `${plan.samples} rows: not checked here (Data screen › c checks every row)` });
    }
    if (checks.every((c) => c.level !== 'fail')) {
      onProgress({ phase: "LLaMA-Factory's parser", done: 0, total: null });
      try {
        await preflight(ws, await venv(), plan, (_phase, message) => onProgress({ phase: "LLaMA-Factory's parser", done: 0, total: null, message }));
        checks.push({ name: 'LLaMA-Factory', level: 'ok', detail: 'its parser accepted every key' });
      } catch (err) {
        if (!(err instanceof MedtuneError)) throw err;
        checks.push({ name: 'LLaMA-Factory', level: 'fail', detail: err.problem, next: err.next });
      }
    }
    return checks;
  };

  return {
    info: () => ({ root: ws.root, name: basename(ws.root) }),
    async close() {
      const all = [...followed.values()];
      followed.clear();
      await Promise.all(all.map((f) => f.follower.then((x) => x.close(), () => undefined)));
    },

    async listRuns() {
      const ids = await listRunIds(ws);
      return Promise.all(ids.map((id) => readRun(join(ws.runsDir, id))));
    },
    async readRun(id) {
      return readRun(await resolveRunDir(ws, id));
    },
    async readLog(id, lines) {
      const paths = runPaths(await resolveRunDir(ws, id));
      // Tracebacks land on stderr, so its tail comes last, next to the key bar. The supervisor marks each
      // attempt in both files; once is enough.
      const [out, err] = await Promise.all([tailLines(paths.stdout, lines), tailLines(paths.stderr, lines)]);
      return { lines: [...out.filter((l) => !l.startsWith(ATTEMPT_MARK)), ...err].slice(-lines) };
    },
    async planTrain(params, onProgress, signal) {
      const req = await request(params);
      onProgress({ phase: 'planning', done: 0, total: null });
      const plan = await planRun(ws, await venv(), req);
      const checks = await planChecks(plan, req, onProgress, signal);
      const ok = checks.every((c) => c.level !== 'fail');
      if (ok) passed.add(JSON.stringify(params));
      const envArgs = Object.entries(plan.env).map(([k, v]) => `${k}=${v}`);
      return { yaml: plan.yaml, command: ['env', ...envArgs, ...plan.command], checks, ok } satisfies TrainPlan;
    },
    async startTrain(params) {
      const req = await request(params);
      const v = await venv();
      const plan = await planRun(ws, v, req);
      if (!passed.has(JSON.stringify(params))) await preflight(ws, v, plan);
      const manifest = await launchRun(ws, v, req, plan);
      return { runId: manifest.id };
    },
    async stopRun(id, o) {
      await stopRun(ws, id, { now: o.now });
    },
    async resumeRun(id) {
      const r = await resumeRun(ws, await venv(), id);
      return { runId: r.manifest.id };
    },
    async listProfiles() {
      const file = join(TEMPLATES_DIR, 'train', 'lora_sft.yaml');
      const template: TrainConfig = parseConfigYaml(await readFile(file, 'utf8'), file);
      const scalar = (c: TrainConfig) => Object.fromEntries(Object.entries(c).filter((e): e is [string, FieldValue] => typeof e[1] === 'number' || typeof e[1] === 'string'));
      return Object.entries(await loadProfiles()).map(([name, p]) => ({
        name,
        description: p.description,
        defaults: { ...scalar(template), ...scalar(p.values as TrainConfig) },
      }));
    },

    async listDatasets() {
      const listed = await listDatasets(ws);
      const vals = new Map(listed.filter((l) => l.split === 'val' && l.dataset).map((l) => [l.dataset!, l]));
      return listed.filter((l) => l.split !== 'val').map((l): DatasetSummary => ({
        name: l.entry,
        file: l.file ?? '?',
        rows: l.rows,
        valRows: l.dataset ? vals.get(l.dataset)?.rows ?? 0 : null,
        images: null,
        modalities: l.modalities,
        source: l.source,
        createdAt: l.createdAt,
        bytes: null,
      }));
    },
    async listDataSources() {
      return listDataSources(env);
    },
    async prepareData(req, onProgress, signal) {
      const r = await prepareDataset(ws, await venv(), { source: req.source, name: req.name, limit: req.limit ?? undefined, valRatio: req.valRatio, signal }, onProgress);
      const counts = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
      return {
        name: r.name,
        file: `${r.name}/train.jsonl`,
        rows: r.train,
        valRows: r.val,
        images: counts(r.modalities.train) + counts(r.modalities.val),
        modalities: r.modalities.train,
        source: r.source,
        createdAt: new Date().toISOString(),
        bytes: null,
      };
    },
    async previewDataset(name, req) {
      const p = await previewDataset(ws, name, { offset: req.offset, limit: req.count });
      const firsts = p.rows.map((r) => r.imagePaths[0]).filter((x): x is string => !!x);
      const images = await thumbnails(firsts, req.maxSide);
      return {
        name,
        total: p.total,
        samples: p.rows.map((r, i) => ({
          index: req.offset + i,
          split: p.split === 'val' ? 'val' : 'train',
          question: r.question,
          answer: r.answer,
          imagePaths: r.imagePaths,
          image: r.imagePaths[0] ? images.get(r.imagePaths[0]) ?? null : null,
          modality: r.modality,
        })),
      };
    },
    async checkDataset(name, onProgress, signal) {
      const r = await checkDataset(ws, await venv(), name, onProgress, signal);
      return { name, ok: r.ok, rows: r.rows, checks: checkItems(r) };
    },

    async listModels() {
      return (await listModels(ws)).map((m) => ({ name: m.name, path: m.dir, kind: m.kind === 'tiny' ? 'tiny' : 'base', template: m.template, bytes: m.bytes }));
    },

    async listExports() {
      if (!existsSync(ws.exportsDir)) return [];
      const dirs = (await readdir(ws.exportsDir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.'));
      return Promise.all(dirs.map(async (d): Promise<ExportSummary> => {
        const dir = join(ws.exportsDir, d.name);
        const verify = await readJsonIfExists<{ ok?: unknown }>(join(dir, 'verify.json')).catch(() => undefined);
        const yaml = await readFile(join(dir, 'export.yaml'), 'utf8').catch(() => '');
        const run = /runs\/([^/\s]+)\/output/.exec(yaml)?.[1] ?? null;
        return { name: d.name, dir, runId: run, ok: typeof verify?.ok === 'boolean' ? verify.ok : null };
      }));
    },
    async exportRun(req, onProgress, signal) {
      const v = await venv();
      const phases = ['loading base model', 'merging adapter', 'converting dtype', 'saving'];
      const total = phases.length + 1;
      onProgress({ phase: 'starting llamafactory-cli export', done: 0, total });
      const r = await exportRun(ws, v, {
        run: req.runId,
        checkpoint: req.checkpoint ?? undefined,
        name: req.name,
        overrides: [`export_device=${req.device}`, `export_size=${req.shardSizeGB}`],
      }, (phase) => onProgress({ phase, done: Math.max(0, phases.indexOf(phase)), total }));
      onProgress({ phase: 'verifying the export', done: phases.length, total, message: 'loads it with its processor and asks it about an image' });
      const verified = await verifyExport({ venv: v, exportDir: r.dir, baseDir: r.base, workspace: ws, signal });
      const checks: CheckItem[] = verified.checks.map((c) => ({ name: c.name, level: c.ok ? 'ok' : 'fail', detail: c.detail }));
      if (verified.generation) checks.push({ name: 'answer', level: 'ok', detail: `"${verified.generation.text.trim().slice(0, 120)}" (${verified.generation.seconds.toFixed(1)} s)` });
      if (verified.failure) checks.push({ name: verified.failure.code, level: 'fail', detail: verified.failure.problem, next: verified.failure.next ?? undefined });
      return { name: r.name, dir: r.dir, ok: verified.ok, checks };
    },

    async compare(req, onProgress, signal) {
      const v = await venv();
      // Held-out rows when the dataset has a val split: the tuned model has not seen them.
      const val = `${req.dataset}_val`;
      const dataset = (await listDatasets(ws)).some((l) => l.entry === val) ? val : req.dataset;
      const report = await compareModels(ws, v, {
        base: req.base,
        tuned: req.tuned,
        dataset,
        samples: req.samples,
        prompt: req.prompt === '' ? undefined : req.prompt,
        maxNewTokens: req.maxNewTokens,
      }, (phase, done, total, message) => onProgress({ phase, done, total, message }), signal);
      const images = await thumbnails(report.items.map((i) => i.images[0]).filter((x): x is string => !!x), 96);
      const side = (label: string, m: SideMetrics): CompareSide => ({ label, score: sideScore(m) });
      return {
        base: side(report.base.label, report.metrics.base),
        tuned: side(report.tuned.label, report.metrics.tuned),
        items: report.items.map((item, i) => ({
          sample: req.samples[i] ?? i,
          question: item.question,
          reference: item.reference,
          base: item.base,
          tuned: item.tuned,
          image: item.images[0] ? images.get(item.images[0]) ?? null : null,
        })),
      };
    },

    async runDemo(onProgress, signal) {
      const demo = opts.demo;
      const { venv: v } = await ensureVenv({
        onEvent: (e) => {
          if (e.kind === 'phase' && e.phase !== 'done') onProgress({ phase: '1/4 python venv', done: 0, total: null, message: e.message });
          if (e.kind === 'package') onProgress({ phase: '1/4 python venv', done: 0, total: null, message: `${e.action} ${e.name.slice(0, 60)}` });
        },
      });
      venvPromise = Promise.resolve(v);
      await prepareDataset(ws, v, { source: 'sample', name: demo.dataset, valRatio: 0.2, signal }, (p) => onProgress({ ...p, phase: `2/4 data: ${p.phase}` }));
      const model = await buildTinyModel(ws, v, (p) => onProgress({ phase: `3/4 tiny model: ${p.phase}`, done: p.done ?? 0, total: p.total ?? null, message: p.message }));
      const req: TrainRequest = {
        model: model.dir,
        datasets: [demo.dataset],
        evalDataset: existsSync(join(ws.dataDir, demo.dataset, 'val.jsonl')) ? `${demo.dataset}_val` : undefined,
        profile: 'cpu',
        overrides: [`num_train_epochs=${demo.epochs}`, ...demo.overrides],
        name: 'demo',
      };
      onProgress({ phase: '4/4 train', done: 0, total: null, message: 'checking the config with LLaMA-Factory' });
      const plan = await planRun(ws, v, req);
      await preflight(ws, v, plan, (_p, message) => onProgress({ phase: '4/4 train', done: 0, total: null, message }));
      const manifest = await launchRun(ws, v, req, plan);
      return { runId: manifest.id };
    },
  };
}

