/** Exports: merging a run's adapter into its base model, verifying the result, and listing what exists. */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { finding, type Finding } from '../core/findings.js';
import { readJsonIfExists } from '../runtime/atomic.js';
import { exportRun, type ExportResult } from '../runtime/exporter.js';
import { resolveModel } from '../runtime/modelref.js';
import { verifyExport, type VerifyResult } from '../runtime/verify.js';
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
}

export interface ExportOutcome {
  export: ExportResult;
  verify: VerifyResult | null;
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

/** Merges (cancellable: `signal` ends the exporter and removes its pending folder), then verifies. */
export async function exportAndVerify(
  app: App,
  req: ExportRequest,
  onProgress: OnProgress = ignoreProgress,
  signal?: AbortSignal,
): Promise<ExportOutcome> {
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
  if (req.verify === false) return { export: result, verify: null, findings: [], ok: true };
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
  return { export: result, verify, findings: verifyFindings(verify), ok: verify.ok };
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
