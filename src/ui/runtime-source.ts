/**
 * The WorkspaceSource the real TUI uses: each method calls one use case of the application layer (src/app) and
 * maps its result onto the UI's data types. No policy here: defaults, held-out splits and what blocks a launch
 * are decided in src/app, the same for the CLI.
 */
import { basename, join } from 'node:path';
import type { CheckResult } from '../core/dataset.js';
import { shownAnswer, type SideMetrics } from '../core/evalreport.js';
import type { Finding } from '../core/findings.js';
import { overridesOf, type TrainConfig } from '../core/trainconfig.js';
import { describeScale } from '../core/distributed.js';
import { continueAdvice } from '../core/run.js';
import type { FieldValue } from '../core/trainform.js';
import { compareRunRefs } from '../app/index.js';
import {
  checkFindings,
  compare,
  createApp,
  createRunReader,
  dataSources,
  datasets as listDatasets,
  demoRun,
  describeProcesses,
  exportAndVerify,
  killRunProcess,
  planGguf,
  listExports,
  planTrain,
  prepareData,
  preview,
  profiles,
  models,
  resume,
  startDemo,
  startTrain,
  stop,
  thumbnails as appThumbnails,
  trainDefaults,
  check,
  type App,
  type TrainChoices,
  type TrainPlanResult,
} from '../app/index.js';
import type { Workspace } from '../runtime/workspace.js';
import type { CheckItem, CompareSide, DatasetSummary, RgbImage, TrainParams, TrainPlan, WorkspaceSource } from './source.js';

/** What the demo trains; tests shorten it. Default: the demo's own settings (src/app/demo.ts). */
export interface DemoSettings {
  epochs?: number;
  overrides?: string[];
}

export interface RuntimeSourceOptions {
  demo?: DemoSettings;
  env?: NodeJS.ProcessEnv;
}

/** A finding as a line of a check list: titled by its subject. */
export function checkItem(f: Finding): CheckItem {
  return {
    name: f.subject ?? f.code.toLowerCase().replace(/_/g, ' '),
    level: f.severity,
    detail: f.message,
    ...(f.next ? { next: f.next } : {}),
  };
}

function sideScore(m: SideMetrics): string | null {
  const parts: string[] = [];
  if (m.modalityScored > 0) parts.push(`modality ${m.modalityCorrect}/${m.modalityScored}`);
  if (m.rougeL !== null) parts.push(`ROUGE-L ${m.rougeL.toFixed(2)}`);
  if (m.bleu4 !== null) parts.push(`BLEU-4 ${m.bleu4.toFixed(2)}`);
  return parts.length ? parts.join(' · ') : null;
}

function checkItems(r: CheckResult): CheckItem[] {
  return checkFindings(r).map(checkItem);
}

/** The form's choices in the application's terms (the CLI builds the same from its flags). */
export function trainChoices(ws: Workspace, p: TrainParams): TrainChoices {
  return {
    model: join(ws.modelsDir, p.model),
    datasets: p.datasets,
    profile: p.profile,
    overrides: overridesOf(p.overrides),
    ...(p.gpus ? { gpus: p.gpus } : {}),
  };
}

export function createRuntimeSource(ws: Workspace, opts: RuntimeSourceOptions = {}): WorkspaceSource {
  const app: App = createApp(ws, { env: opts.env });
  const runs = createRunReader(app);
  /** Plans whose pre-flight passed in this session: launching them again skips LLaMA-Factory's 8 s parse. */
  const passed = new Map<string, TrainPlanResult>();

  const thumbnails = (paths: string[], maxSide: number): Promise<Map<string, RgbImage>> => appThumbnails(app, paths, maxSide);

  return {
    info: () => ({ root: ws.root, name: basename(ws.root) }),
    async close() {
      await runs.close();
    },

    async listRuns() {
      return runs.list();
    },
    async readRun(id) {
      return runs.read(id);
    },
    async compareRuns(ids) {
      return compareRunRefs(app, ids);
    },
    async readLog(id, lines) {
      return { lines: await runs.log(id, lines) };
    },
    async trainDefaults() {
      return trainDefaults(app);
    },
    async planTrain(params, onProgress, signal) {
      const r = await planTrain(app, trainChoices(ws, params), { checkRows: true, onProgress, signal });
      if (r.ok) passed.set(JSON.stringify(params), r);
      const envArgs = Object.entries(r.plan.env).map(([k, v]) => `${k}=${v}`);
      return {
        yaml: r.plan.yaml,
        command: ['env', ...envArgs, ...r.plan.command],
        checks: r.findings.map(checkItem),
        ok: r.ok,
        scale: describeScale(r.plan.distributed, r.plan.config),
      } satisfies TrainPlan;
    },
    async startTrain(params) {
      const { manifest } = await startTrain(app, trainChoices(ws, params), { checked: passed.get(JSON.stringify(params)) });
      return { runId: manifest.id };
    },
    async stopRun(id, o) {
      const r = await stop(app, id, { now: o.now });
      return { status: r.manifest.status, advice: r.manifest.status === 'completed' ? null : continueAdvice(r.manifest.id, r.leaves) };
    },
    async describeProcesses(pids) {
      return describeProcesses(app, pids);
    },
    async killProcess(pid, signal) {
      return killRunProcess(app, pid, signal);
    },
    async resumeRun(id) {
      const r = await resume(app, id);
      return { runId: r.manifest.id };
    },
    async listProfiles() {
      const scalar = (c: TrainConfig) =>
        Object.fromEntries(
          Object.entries(c).filter((e): e is [string, FieldValue] => typeof e[1] === 'number' || typeof e[1] === 'string'),
        );
      return (await profiles()).map((p) => ({ name: p.name, description: p.description, defaults: scalar(p.values) }));
    },

    async listDatasets() {
      const listed = await listDatasets(app);
      const vals = new Map(listed.filter((l) => l.split === 'val' && l.dataset).map((l) => [l.dataset!, l]));
      return listed
        .filter((l) => l.split !== 'val')
        .map(
          (l): DatasetSummary => ({
            name: l.entry,
            file: l.file ?? '?',
            rows: l.rows,
            valRows: l.dataset ? (vals.get(l.dataset)?.rows ?? 0) : null,
            images: null,
            modalities: l.modalities,
            source: l.source,
            createdAt: l.createdAt,
            bytes: null,
          }),
        );
    },
    async listDataSources() {
      return dataSources(app);
    },
    async prepareData(req, onProgress, signal) {
      const r = await prepareData(
        app,
        { source: req.source, name: req.name, limit: req.limit ?? undefined, valRatio: req.valRatio },
        onProgress,
        signal,
      );
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
      const p = await preview(app, name, { offset: req.offset, limit: req.count });
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
          image: r.imagePaths[0] ? (images.get(r.imagePaths[0]) ?? null) : null,
          modality: r.modality,
        })),
      };
    },
    async checkDataset(name, onProgress, signal) {
      const { result } = await check(app, name, onProgress, signal);
      return { name, ok: result.ok, rows: result.rows, checks: checkItems(result) };
    },

    async listModels() {
      return (await models(app)).map((m) => ({
        name: m.name,
        path: m.dir,
        kind: m.kind === 'tiny' ? 'tiny' : 'base',
        template: m.template,
        bytes: m.bytes,
      }));
    },

    async listExports() {
      return listExports(app);
    },
    async exportRun(req, onProgress, signal) {
      const r = await exportAndVerify(
        app,
        {
          run: req.runId,
          checkpoint: req.checkpoint ?? undefined,
          name: req.name,
          overrides: [`export_device=${req.device}`, `export_size=${req.shardSizeGB}`],
          gguf: req.gguf ? [req.gguf] : undefined,
        },
        onProgress,
        signal,
      );
      return { name: r.export.name, dir: r.export.dir, ok: r.ok, checks: r.findings.map(checkItem) };
    },

    async planGguf(runId) {
      return (await planGguf(app, runId)).map((e) => ({
        type: e.type,
        modelBytes: e.modelBytes,
        mmprojBytes: e.mmprojBytes,
        memoryBytes: e.memoryBytes,
        quality: e.quality,
        refusal: e.check.ok ? null : { problem: e.check.problem, instead: e.check.instead },
      }));
    },

    async compare(req, onProgress, signal) {
      const report = await compare(
        app,
        {
          base: req.base,
          tuned: req.tuned,
          dataset: req.dataset,
          heldOut: true,
          samples: req.samples,
          prompt: req.prompt === '' ? undefined : req.prompt,
          maxNewTokens: req.maxNewTokens,
        },
        onProgress,
        signal,
      );
      const images = await thumbnails(
        report.items.map((i) => i.images[0]).filter((x): x is string => !!x),
        96,
      );
      const side = (label: string, m: SideMetrics): CompareSide => ({ label, score: sideScore(m) });
      return {
        base: side(report.base.label, report.metrics.base),
        tuned: side(report.tuned.label, report.metrics.tuned),
        items: report.items.map((item, i) => ({
          sample: req.samples[i] ?? i,
          question: item.question,
          reference: item.reference,
          base: shownAnswer(item.base, item.baseCut),
          tuned: shownAnswer(item.tuned, item.tunedCut),
          image: item.images[0] ? (images.get(item.images[0]) ?? null) : null,
        })),
        dataset: report.dataset,
      };
    },

    async runDemo(onProgress, signal) {
      // The demo runs as a supervised job: it goes on (export, verification, learning check) after the TUI quits.
      const job = await startDemo(app, { epochs: opts.demo?.epochs, overrides: opts.demo?.overrides }, (e) =>
        onProgress({ ...e, phase: `demo: ${e.phase}` }),
      );
      const runId = await demoRun(job.dir, (e) => onProgress({ ...e, phase: `demo: ${e.phase}` }), signal);
      return { runId, jobId: job.id };
    },
  };
}
