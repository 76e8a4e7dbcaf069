/**
 * Entry of a job process: `node job-main.js <jobDir>`, started by the run supervisor (see jobs.ts). It runs the
 * job's kind, recording steps and the result in job.json. SIGTERM (from `medtune stop` or a TUI cancel) stops
 * the training run the job started, records the job as stopped, and exits.
 */
import { basename } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { TERMINAL_STATUSES } from '../core/run.js';
import { readManifest } from '../runtime/manifest.js';
import { stopRun } from '../runtime/runcontrol.js';
import { workspaceAt } from '../runtime/workspace.js';
import { createApp, type App } from './context.js';
import { runExportJob, type ExportJobRequest } from './exports.js';
import { runDemoJob, type DemoRequest } from './demo.js';
import { JobRecorder, readJob } from './jobs.js';

/** What each kind of job runs; its result is recorded as job.json's `result`. */
const KINDS: Record<string, (app: App, rec: JobRecorder, params: Record<string, unknown>) => Promise<Record<string, unknown>>> = {
  demo: async (app, rec, params) => ({ ...(await runDemoJob(app, rec, params as DemoRequest)) }),
  export: async (app, rec, params) => ({ ...(await runExportJob(app, rec, params as unknown as ExportJobRequest)) }),
};

const dir = process.argv[2];
process.on('SIGHUP', () => undefined);

async function main(jobDir: string): Promise<number> {
  const state = await readJob(jobDir);
  const manifest = await readManifest(jobDir);
  if (!state || !manifest) throw new Error(`no job.json or run.json in ${jobDir}`);
  const app = createApp(workspaceAt(manifest.cwd));
  const rec = new JobRecorder(jobDir, state);
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      const runId = rec.current.runId;
      if (runId) {
        const m = await readManifest(`${app.ws.runsDir}/${runId}`).catch(() => undefined);
        if (m && !TERMINAL_STATUSES.includes(m.status)) await stopRun(app.ws, runId, { graceMs: 30_000 }).catch(() => undefined);
      }
      await rec.update((s) => {
        s.status = 'stopped';
        s.progress = null;
        for (const st of s.steps) if (st.status === 'running' || st.status === 'pending') st.status = 'skipped';
      });
      process.exit(143);
    })();
  });
  await rec.update((s) => {
    s.status = 'running';
  });
  try {
    const kind = KINDS[state.kind];
    if (!kind)
      throw new MedtuneError({
        doing: `running job ${basename(jobDir)}`,
        problem: `unknown job kind "${state.kind}"`,
        next: 'start it again with this medtune version',
        code: 'BAD_JOB',
      });
    const result = await kind(app, rec, state.params);
    await rec.update((s) => {
      s.status = 'completed';
      s.progress = null;
      s.result = result;
    });
    return 0;
  } catch (err) {
    if (stopping) return 143;
    const e = err instanceof MedtuneError ? err : null;
    await rec.update((s) => {
      s.status = 'failed';
      s.progress = null;
      s.error = {
        code: e?.code ?? 'JOB_CRASHED',
        doing: e?.doing ?? `running job ${basename(jobDir)}`,
        problem: e?.problem ?? (err as Error).message,
        ...(e?.next ? { next: e.next } : {}),
      };
      for (const st of s.steps) if (st.status === 'pending') st.status = 'skipped';
    });
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

if (!dir) {
  process.stderr.write('usage: job-main.js <jobDir>\n');
  process.exit(2);
}
main(dir).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
