/** Launching: a run folder claimed from a checked plan, and the detached supervisor that runs it. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import type { RunManifest } from '../core/run.js';
import type { RunPlan, TrainRequest } from '../core/runplan.js';
import { PACKAGE_ROOT } from './paths.js';
import { helperEnv } from './pythonhelper.js';
import { runPaths, writeManifest } from './manifest.js';
import { readSettings } from './settings.js';
import { claimRunDir } from './runclaim.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';
import { clearIncompleteTokenized } from './tokcache.js';

function supervisorEntry(): string {
  const entry = join(PACKAGE_ROOT, 'dist', 'runtime', 'supervisor-main.js');
  if (!existsSync(entry)) {
    throw new MedtuneError({
      doing: 'starting the run supervisor',
      problem: `${entry} is missing`,
      next: `run \`npm run build\` in ${PACKAGE_ROOT}`,
      code: 'NOT_BUILT',
    });
  }
  return entry;
}

/** Starts the detached supervisor of a run (or job) folder whose run.json is written; returns its pid. */
export function spawnSupervisor(venv: Venv, runDir: string, resumeFrom?: string): number {
  const args = [supervisorEntry(), runDir, ...(resumeFrom ? ['--resume-from', resumeFrom] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: 'ignore', env: helperEnv(venv), cwd: runDir });
  child.unref();
  return child.pid ?? 0;
}

/** What `launchRun` records for a run that waits in the queue instead of starting (runtime/queue.ts starts it). */
export interface LaunchQueueOptions {
  queue?: NonNullable<RunManifest['queue']>;
  sweep?: string;
}

/** Creates runs/<id>/ from a checked plan and starts its supervisor (or leaves it queued); returns at once. */
export async function launchRun(
  ws: Workspace,
  venv: Venv,
  req: TrainRequest,
  plan: RunPlan,
  opts: LaunchQueueOptions = {},
): Promise<RunManifest> {
  const settings = await readSettings(ws);
  // Private to this process: another `train` started in the same second plans the same id.
  const pending = join(ws.runsDir, `.pending-${plan.id}-${process.pid}`);
  await rm(pending, { recursive: true, force: true });
  await mkdir(join(pending, 'output'), { recursive: true });
  const now = new Date().toISOString();
  const manifestOf = (p: RunPlan): RunManifest => ({
    id: p.id,
    createdAt: now,
    updatedAt: now,
    status: 'queued',
    model: p.modelDir,
    datasets: req.datasets,
    profile: p.profileName,
    outputDir: p.outputDir,
    trainYaml: runPaths(join(ws.runsDir, p.id)).trainYaml,
    command: p.command,
    env: p.env,
    cwd: ws.root,
    attempts: [],
    autoResume: req.autoResume ?? settings.autoResume ?? 0,
    ...(opts.queue ? { queue: opts.queue } : {}),
    ...(opts.sweep ? { sweep: opts.sweep } : {}),
  });
  const write = async (p: RunPlan) => {
    await writeFile(join(pending, 'train.yaml'), p.yaml);
    await writeManifest(pending, manifestOf(p));
  };
  await write(plan);
  // The folder appears whole or not at all; a taken id moves this run to the next one.
  const claimed = await claimRunDir(ws.runsDir, pending, plan, write);
  if (opts.queue) return manifestOf(claimed);
  if (typeof plan.config.tokenized_path === 'string') await clearIncompleteTokenized(plan.config.tokenized_path);
  spawnSupervisor(venv, join(ws.runsDir, claimed.id));
  return manifestOf(claimed);
}
