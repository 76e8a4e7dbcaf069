import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action } from '../command.js';
import { createApp, DEMO_TRAIN, jobError, startDemo, watchJob, type DemoResult, type JobState } from '../../app/index.js';
import { pct } from '../../core/evalreport.js';
import { formatDuration } from '../../core/format.js';
import { workspaceAt } from '../../runtime/workspace.js';
import type { Reporter } from '../output.js';

export const order = 1;

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

export function demoLines(res: DemoResult): string[] {
  const c = res.learningCheck;
  const learned = c ? `tuned ${pct(c.tunedAccuracy)} vs base ${pct(c.baseAccuracy)} (chance ${pct(c.chance)}) of ${c.samples} held-out images named with the right modality, after ${c.steps} steps` : 'not checked';
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
    `  phases     ${Object.entries(res.times).map(([k, v]) => `${k} ${v}s`).join(', ')}`,
    '',
    'next: `medtune` opens the TUI on this workspace (cd into it or pass -w).',
  ];
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('the whole pipeline on CPU, offline: sample MedTrinity-style data → tiny Qwen2-VL → LoRA training → merge → verify → learning check (a detached job: Ctrl-C leaves it running)')
    .option('--epochs <n>', 'training epochs', (v) => Number(v), DEMO_TRAIN.epochs)
    .option('--detach', 'return as soon as the demo job has started')
    .option('--json', 'print the result as JSON')
    .action(action(async (ctx, opts: { epochs: number; detach?: boolean }) => {
      const r = ctx.reporter;
      const flagged = ctx.command.optsWithGlobals().workspace as string | undefined;
      const app = flagged || process.env.MEDTUNE_WORKSPACE ? ctx.app : createApp(workspaceAt(resolve('medtune-demo')));
      r.info(`medtune demo in ${app.ws.root}`);
      const job = await startDemo(app, { epochs: opts.epochs }, (e) => r.progress(`0 ${e.phase}`, e.done, e.total, e.message));
      r.step(`python venv ready (${job.venvSeconds} s)`);
      r.step(`demo job ${job.id} started (detached: Ctrl-C leaves it running; \`medtune attach ${job.id}\` follows it)`);
      if (opts.detach) {
        r.result({ job: job.id, dir: job.dir }, [`follow it: medtune attach ${job.id}`, `stop it:   medtune stop ${job.id}`]);
        return;
      }
      return reportJob(job.dir, r, job.venvSeconds);
    }));
}

/** Follows a job to its end and prints its result; the exit code says whether it succeeded. */
export async function reportJob(dir: string, r: Reporter, venvSeconds?: number): Promise<number> {
  const final = await watchJob(dir, createJobPrinter(r));
  r.done();
  if (final.status !== 'completed' || !final.result) throw jobError(final);
  const res = final.result as unknown as DemoResult;
  const times = venvSeconds !== undefined ? { venv: venvSeconds, ...res.times } : res.times;
  const out = { ...res, times, job: final.id };
  r.result(out, demoLines(out));
  return res.ok ? 0 : 1;
}
