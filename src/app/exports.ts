/** Exports: merging a run's adapter into its base model, verifying the result, and listing what exists. */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { finding, type Finding } from '../core/findings.js';
import { readJsonIfExists } from '../runtime/atomic.js';
import { isModelDir } from '../runtime/files.js';
import { exportRun, type ExportResult } from '../runtime/exporter.js';
import { resolveModel } from '../runtime/modelref.js';
import { firstDatasetImage, verifyExport, type VerifyResult } from '../runtime/verify.js';
import { MedtuneError } from '../core/errors.js';
import { estimateGguf, GGUF_TYPES, type GgufEstimate, type GgufType } from '../core/gguf.js';
import { askGguf, convertToGguf, readGgufShapes, recordGgufVerify, type GgufManifest } from '../runtime/gguf.js';
import { requireLlamaCpp } from '../runtime/llamacpp.js';
import { readManifest, resolveRunDir } from '../runtime/manifest.js';
import { defaultExportName } from '../core/run.js';
import type { App } from './context.js';
import { evaluateTarget } from './eval.js';
import { startJob, type JobRecorder } from './jobs.js';
import { ignoreProgress, type OnProgress } from './events.js';

export interface ExportRequest {
  /** Run id, prefix or `latest`. */
  run: string;
  /** checkpoint-N instead of the final adapter. */
  checkpoint?: number;
  /** Folder name under exports/ (default: the run id). */
  name?: string;
  /** LLaMA-Factory export keys, `key=value`. */
  overrides?: string[];
  /** Verify after merging (default true). */
  verify?: boolean;
  /** Image for the verification's generation. */
  image?: string;
  /** Also write GGUF files of these types (llama.cpp, Ollama, LM Studio), with the vision projector. */
  gguf?: GgufType[];
}

export interface GgufVerify {
  ok: boolean;
  llamaCpp: string;
  image: string;
  prompt: string;
  mmproj: { file: string; bytes: number };
  models: { type: GgufType; file: string; bytes: number; modelfile: string; answer: string; seconds: number; ok: boolean }[];
  convertSeconds: number;
  quantizeSeconds: number;
}

export interface ExportOutcome {
  export: ExportResult;
  verify: VerifyResult | null;
  /** The GGUF files, and what llama.cpp answered from each (null answers when not verified). */
  gguf: { manifest: GgufManifest; verify: GgufVerify | null } | null;
  /** The verification as findings: one per check, the answer, and why it failed. */
  findings: Finding[];
  ok: boolean;
}

/** The phases of a merge as its log shows them, in order. */
export const EXPORT_PHASES = ['loading base model', 'merging adapter', 'converting dtype', 'saving'] as const;

export function verifyFindings(v: VerifyResult): Finding[] {
  const out = v.checks.map((c) => finding(c.ok ? 'CHECK_OK' : 'CHECK_FAILED', c.ok ? 'ok' : 'fail', c.detail, undefined, c.name));
  if (v.generation)
    out.push(
      finding('ANSWERED', 'ok', `"${v.generation.text.trim().slice(0, 120)}" (${v.generation.seconds.toFixed(1)} s)`, undefined, 'answer'),
    );
  if (v.failure) out.push(finding(v.failure.code, 'fail', v.failure.problem, v.failure.next ?? undefined, v.failure.code));
  return out;
}

/** The GGUF choices for a run's model, before anything is merged: size, memory to run, and whether its shapes fit. */
export async function planGguf(app: App, run: string): Promise<GgufEstimate[]> {
  const m = await readManifest(await resolveRunDir(app.ws, run));
  const shapes = m ? await readGgufShapes(m.model) : null;
  if (!m || !shapes) {
    throw new MedtuneError({
      doing: `planning a GGUF export of run ${run}`,
      problem: m ? `${m.model}/config.json does not describe a Qwen2-VL model (text and vision shapes)` : 'run.json is missing',
      next: m ? 'medtune writes GGUF for Qwen2-VL models only: export without --gguf' : 'check `medtune runs`',
      code: m ? 'GGUF_UNSUPPORTED' : 'NO_RUN',
    });
  }
  return GGUF_TYPES.map((t) => estimateGguf(shapes, t));
}

/** Refuses, before merging, a GGUF type the model's shapes cannot take, naming one that works. */
async function checkGgufRequest(app: App, req: ExportRequest): Promise<void> {
  if (!req.gguf?.length) return;
  const doing = `exporting run ${req.run} to GGUF (${req.gguf.join(', ')})`;
  const plan = await planGguf(app, req.run);
  for (const type of req.gguf) {
    const check = plan.find((e) => e.type === type)!.check;
    if (!check.ok) {
      throw new MedtuneError({
        doing,
        problem: check.problem,
        next: `export with --gguf ${check.instead} instead`,
        code: 'GGUF_TYPE_UNFIT',
      });
    }
  }
  await requireLlamaCpp(doing, app.env);
}

/**
 * The export a GGUF request names when it is already merged (exports/<name>/ with its weights and no gguf/ yet),
 * so `export RUN --gguf TYPE` after a plain export converts it instead of refusing or merging again.
 */
async function mergedExport(app: App, req: ExportRequest): Promise<ExportResult | null> {
  const m = await readManifest(await resolveRunDir(app.ws, req.run));
  if (!m) return null;
  const name = req.name ?? defaultExportName(m.id, req.checkpoint);
  const dir = join(app.ws.exportsDir, name);
  if (!isModelDir(dir) || existsSync(join(dir, 'gguf'))) return null;
  const adapter = req.checkpoint !== undefined ? join(m.outputDir, `checkpoint-${req.checkpoint}`) : m.outputDir;
  return {
    name,
    dir,
    adapter,
    base: m.model,
    yaml: join(dir, 'export.yaml'),
    log: join(m.outputDir, '..', `export-${name}.log`),
    seconds: 0,
    files: (await readdir(dir)).sort(),
    reused: true,
  };
}

/** Converts a merged export to GGUF and asks llama.cpp about one image with each file; records it in verify.json. */
async function exportGguf(
  app: App,
  req: ExportRequest & { gguf: GgufType[] },
  exported: ExportResult,
  verify: VerifyResult | null,
  onProgress: OnProgress,
  signal?: AbortSignal,
): Promise<NonNullable<ExportOutcome['gguf']>> {
  const venv = await app.venv();
  const llama = await requireLlamaCpp(`converting export ${exported.name} to GGUF`, app.env);
  const manifest = await convertToGguf({
    venv,
    llama,
    exportDir: exported.dir,
    types: req.gguf,
    signal,
    onProgress: (e) => onProgress({ ...e, phase: `gguf: ${e.phase}` }),
  });
  if (req.verify === false) return { manifest, verify: null };
  const image =
    req.image ??
    (verify?.generation && verify.generation.image !== 'synthetic' ? verify.generation.image : await firstDatasetImage(app.ws));
  if (!image) {
    throw new MedtuneError({
      doing: `verifying the GGUF files of ${exported.name}`,
      problem: 'no image to ask about: the workspace has no dataset images',
      next: `pass --image FILE (a PNG or JPEG), or skip the check with --no-verify`,
      code: 'NO_IMAGE',
    });
  }
  const prompt = verify?.generation?.prompt ?? 'Describe this medical image.';
  const dir = join(exported.dir, 'gguf');
  const models: GgufVerify['models'] = [];
  for (const [i, f] of manifest.models.entries()) {
    onProgress({ phase: `gguf: asking llama.cpp (${f.type})`, done: i, total: manifest.models.length, message: basename(image) });
    const a = await askGguf(llama, {
      model: join(dir, f.file),
      mmproj: join(dir, manifest.mmproj.file),
      images: [image],
      prompt,
      log: join(exported.dir, 'gguf.log'),
      signal,
    });
    models.push({ ...f, answer: a.text, seconds: a.seconds, ok: a.text.length > 0 });
  }
  const gguf: GgufVerify = {
    ok: models.every((m) => m.ok),
    llamaCpp: manifest.llamaCpp,
    image,
    prompt,
    mmproj: manifest.mmproj,
    models,
    convertSeconds: manifest.convertSeconds,
    quantizeSeconds: manifest.quantizeSeconds,
  };
  await recordGgufVerify(join(exported.dir, 'verify.json'), gguf);
  return { manifest, verify: gguf };
}

/** Merges (cancellable: `signal` ends the exporter and removes its pending folder), then verifies. */
export async function exportAndVerify(
  app: App,
  req: ExportRequest,
  onProgress: OnProgress = ignoreProgress,
  signal?: AbortSignal,
): Promise<ExportOutcome> {
  await checkGgufRequest(app, req);
  const merged = req.gguf?.length ? await mergedExport(app, req) : null;
  if (merged) {
    // Already merged (and checked when it was): only the GGUF files are new.
    onProgress({ phase: `converting the existing export ${merged.name}`, done: 0, total: 1 });
    const verify = await readJsonIfExists<VerifyResult>(join(merged.dir, 'verify.json')).catch(() => undefined);
    const g = await exportGguf(app, { ...req, gguf: req.gguf! }, merged, verify ?? null, onProgress, signal);
    return { export: merged, verify: null, gguf: g, findings: g.verify ? ggufFindings(g.verify) : [], ok: g.verify?.ok ?? true };
  }
  const venv = await app.venv();
  const total = EXPORT_PHASES.length + 1;
  onProgress({ phase: 'starting llamafactory-cli export', done: 0, total });
  const result = await exportRun(
    app.ws,
    venv,
    { run: req.run, checkpoint: req.checkpoint, name: req.name, overrides: req.overrides },
    (phase) => onProgress({ phase, done: Math.max(0, EXPORT_PHASES.indexOf(phase as (typeof EXPORT_PHASES)[number])), total }),
    signal,
  );
  const gguf = req.gguf?.length ? { ...req, gguf: req.gguf } : null;
  if (req.verify === false) {
    const g = gguf ? await exportGguf(app, gguf, result, null, onProgress, signal) : null;
    return { export: result, verify: null, gguf: g, findings: [], ok: true };
  }
  onProgress({
    phase: 'verifying the export',
    done: EXPORT_PHASES.length,
    total,
    message: 'loads it with its processor and asks it about an image',
  });
  const verify = await verifyExport({
    workspace: app.ws,
    venv,
    exportDir: result.dir,
    baseDir: result.base,
    image: req.image,
    signal,
    env: app.env,
  });
  if (!verify.ok || !gguf) return { export: result, verify, gguf: null, findings: verifyFindings(verify), ok: verify.ok };
  const g = await exportGguf(app, gguf, result, verify, onProgress, signal);
  return { export: result, verify, gguf: g, findings: [...verifyFindings(verify), ...ggufFindings(g.verify!)], ok: g.verify!.ok };
}

export function ggufFindings(g: GgufVerify): Finding[] {
  return g.models.map((m) =>
    m.ok
      ? finding('GGUF_ANSWERED', 'ok', `"${m.answer.slice(0, 120)}" (${m.seconds.toFixed(1)} s, ${m.file})`, undefined, `gguf ${m.type}`)
      : finding('GGUF_NO_ANSWER', 'fail', `llama.cpp gave no answer from ${m.file}`, 'see gguf/gguf.log in the export', `gguf ${m.type}`),
  );
}

export interface ExportSummary {
  name: string;
  dir: string;
  /** The run it was merged from, when its export.yaml names a run's adapter. */
  runId: string | null;
  /** verify.json's verdict; null when it was never verified. */
  ok: boolean | null;
}

export async function listExports(app: App): Promise<ExportSummary[]> {
  if (!existsSync(app.ws.exportsDir)) return [];
  const dirs = (await readdir(app.ws.exportsDir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.'));
  const out = await Promise.all(
    dirs.map(async (d): Promise<ExportSummary | null> => {
      const dir = join(app.ws.exportsDir, d.name);
      const target = await resolveModel(app.ws, { kind: 'export', name: d.name }).catch(() => null);
      if (!target) return null;
      const verify = await readJsonIfExists<{ ok?: unknown }>(join(dir, 'verify.json')).catch(() => undefined);
      return {
        name: d.name,
        dir,
        runId: target.runDir ? basename(target.runDir) : null,
        ok: typeof verify?.ok === 'boolean' ? verify.ok : null,
      };
    }),
  );
  return out.filter((e): e is ExportSummary => e !== null);
}

export interface ExportJobRequest extends ExportRequest {
  /** Evaluate the export on its run's held-out split after verifying it. */
  eval?: boolean;
  /** Rows of the held-out split to evaluate (all when absent). */
  evalLimit?: number;
}

export interface ExportJobResult {
  ok: boolean;
  export: { name: string; dir: string; seconds: number };
  verify: { ok: boolean } | null;
  eval: { dir: string; dataset: string; metrics: Record<string, unknown> } | null;
}

/** Starts export (+ verify, + eval) as a supervised job: it goes on when the terminal closes. */
export async function startExportJob(app: App, req: ExportJobRequest): Promise<{ id: string; dir: string }> {
  const steps = req.eval ? ['export', 'eval'] : ['export'];
  return startJob(app, await app.venv(), 'export', steps, { ...req });
}

/** The export job's steps, run inside the job process (job-main.ts). */
export async function runExportJob(app: App, rec: JobRecorder, req: ExportJobRequest): Promise<ExportJobResult> {
  const out = await rec.step(
    'export',
    () => exportAndVerify(app, req, (e) => rec.progress({ ...e, phase: `export: ${e.phase}` })),
    (o) => `${o.export.dir}: ${o.verify ? `verification ${o.ok ? 'passed' : 'FAILED'}` : 'not verified'}`,
  );
  let evaluated: ExportJobResult['eval'] = null;
  if (req.eval) {
    const r = await rec.step(
      'eval',
      () =>
        evaluateTarget(app, { target: `export:${out.export.name}`, limit: req.evalLimit }, (e) =>
          rec.progress({ ...e, phase: `eval: ${e.phase}` }),
        ),
      (e) => `${e.report.dataset}: ${e.dir}`,
    );
    evaluated = { dir: r.dir, dataset: r.report.dataset, metrics: r.report.metrics as unknown as Record<string, unknown> };
  }
  return {
    ok: out.ok,
    export: { name: out.export.name, dir: out.export.dir, seconds: out.export.seconds },
    verify: out.verify ? { ok: out.verify.ok } : null,
    eval: evaluated,
  };
}
