/** Text rendering of a supervised job (the demo, an export) for the CLI: steps as they finish, then the result. */
import { demoNextSteps, jobError, watchJob, type DemoResult, type ExportJobResult, type JobState } from '../app/index.js';
import type { NextStep } from '../core/nextstep.js';
import type { Reporter } from './output.js';
import { pct } from '../core/evalreport.js';
import { formatDuration } from '../core/format.js';

/** Prints a job as it goes: each finished step once, the running step's progress live. */
export function createJobPrinter(r: Reporter): (s: JobState) => void {
  const announced = new Set<string>();
  return (s) => {
    s.steps.forEach((st, i) => {
      if ((st.status === 'done' || st.status === 'failed') && !announced.has(st.name)) {
        announced.add(st.name);
        (st.status === 'done' ? r.step : r.warn)(`${i + 1}/${s.steps.length} ${st.name}: ${st.detail ?? st.status}`);
      }
    });
    const running = s.steps.findIndex((st) => st.status === 'running');
    if (running >= 0) {
      const p = s.progress;
      r.progress(`${running + 1}/${s.steps.length} ${p?.phase ?? s.steps[running]!.name}`, p?.done ?? 0, p?.total ?? null, p?.message);
    }
  };
}

/** Renders a next step as the command to paste where the user stands. */
export type StepRenderer = (s: NextStep) => string;

export function demoLines(res: DemoResult, step: StepRenderer): string[] {
  const c = res.learningCheck;
  const learned = c
    ? `tuned ${pct(c.tunedAccuracy)} vs base ${pct(c.baseAccuracy)} (chance ${pct(c.chance)}) of ${c.samples} held-out images named with the right modality, after ${c.steps} steps`
    : 'not checked';
  const total = Object.values(res.times).reduce((a, b) => a + b, 0);
  return [
    '',
    `${res.ok ? '✓' : '✗'} demo finished in ${formatDuration(total)}`,
    `  workspace  ${res.workspace}`,
    `  dataset    ${res.dataset.dir}`,
    `  model      ${res.model.dir}`,
    `  run        ${res.run.dir}`,
    `  export     ${res.export?.dir ?? '-'}`,
    `  learning   ${learned}`,
    `  phases     ${Object.entries(res.times)
      .map(([k, v]) => `${k} ${v}s`)
      .join(', ')}`,
    '',
    'next:',
    ...demoNextSteps(res).map((n) => `  ${step(n.step)}\n      ${n.why}`),
  ];
}

function resultLines(s: JobState, step: StepRenderer): string[] {
  if (s.kind === 'demo') return demoLines(s.result as unknown as DemoResult, step);
  if (s.kind === 'export') {
    const r = s.result as unknown as ExportJobResult;
    return [
      `${r.ok ? '✓' : '✗'} export ${r.export.name}: ${r.verify ? (r.verify.ok ? 'verified' : 'verification FAILED') : 'not verified'}`,
      `  folder: ${r.export.dir}`,
      ...(r.eval ? [`  eval on ${r.eval.dataset}: ${r.eval.dir}`] : []),
    ];
  }
  return s.steps.map((st) => `${st.status === 'done' ? '✓' : '✗'} ${st.name}: ${st.detail ?? st.status}`);
}

/** Follows a job to its end and prints its result; the exit code says whether it succeeded. */
export async function reportJob(dir: string, r: Reporter, step: StepRenderer, venvSeconds?: number): Promise<number> {
  const final = await watchJob(dir, createJobPrinter(r));
  r.done();
  if (final.status !== 'completed' || !final.result) throw jobError(final);
  const res = final.result as { ok?: boolean; times?: Record<string, number> };
  const out = venvSeconds !== undefined && res.times ? { ...res, times: { venv: venvSeconds, ...res.times } } : res;
  const shown = { ...final, result: out as Record<string, unknown> };
  r.result({ ...out, job: final.id }, resultLines(shown, step));
  return res.ok === false ? 1 : 0;
}
