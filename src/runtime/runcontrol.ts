/**
 * Runs after launch: stop (the trainers' abort handler, then the process tree) and resume (a new attempt from the
 * newest whole checkpoint, under a new supervisor).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MedtuneError } from '../core/errors.js';
import type { RunManifest } from '../core/run.js';
import { ATTEMPT_MARK, TERMINAL_STATUSES } from '../core/run.js';
import { formatBytes } from '../core/format.js';
import { tailText } from './files.js';
import { isAlive, RunTree, signalPid } from './proctree.js';
import { readManifest, resolveRunDir, updateManifest } from './manifest.js';
import { reconcileRun } from './reconcile.js';
import { checkpointRoom, estimatedCheckpointBytes } from './diskwatch.js';
import { holdsAdapter, resumableCheckpoint, savesOnlyModel, type SkippedCheckpoint } from './checkpoints.js';
import type { Venv } from './venv.js';
import type { Workspace } from './workspace.js';
import { clearIncompleteTokenized } from './tokcache.js';
import { spawnSupervisor } from './launch.js';
import { cancelQueued } from './queuestate.js';

export interface StopOptions {
  /** SIGKILL the whole tree at once. */
  now?: boolean;
  /** How long a graceful stop may take before SIGTERM, then SIGKILL. */
  graceMs?: number;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return cond();
}

/** True once LLaMA-Factory's LogCallback (and with it the SIGABRT handler) exists. */
async function abortHandlerInstalled(dir: string): Promise<boolean> {
  const err = await tailText(join(dir, 'stderr.log'), 4 * 2 ** 20);
  const lastAttempt = err.lastIndexOf(ATTEMPT_MARK);
  return /\*\*\*\*\* Running training \*\*\*\*\*/.test(err.slice(Math.max(0, lastAttempt)));
}

/**
 * Stops a run: SIGABRT to the trainers of the tree (each rank, not its loader workers) (LLaMA-Factory then saves the adapter and exits 0), SIGTERM to
 * the group if it has not ended within the grace period, SIGKILL after that. Before the trainer has installed its
 * abort handler, SIGABRT would core-dump it, so SIGTERM is sent instead.
 */
export async function stopRun(ws: Workspace, ref: string, opts: StopOptions = {}): Promise<{ manifest: RunManifest; signals: string[] }> {
  const dir = await resolveRunDir(ws, ref);
  const signals: string[] = [];
  // A run whose processes are already gone is recorded as such instead of "stopped".
  let m = (await reconcileRun(dir)).manifest;
  if (!m)
    throw new MedtuneError({ doing: `stopping ${ref}`, problem: 'run.json is missing', next: 'check `medtune runs`', code: 'NO_RUN' });
  if (TERMINAL_STATUSES.includes(m.status)) return { manifest: m, signals };
  const cancelled = await cancelQueued(dir);
  if (cancelled) return { manifest: cancelled, signals };
  m = await updateManifest(dir, (cur) => {
    cur.stopRequested = true;
    cur.status = 'stopping';
  });
  const attempt = m.attempts[m.attempts.length - 1];
  const pid = attempt?.pid;
  const pgid = attempt?.pgid ?? pid;
  if (pid && isAlive(pid)) {
    const tree = new RunTree(pid, pgid);
    const gone = () => tree.gone();
    if (opts.now) {
      tree.signal('SIGKILL');
      signals.push('SIGKILL');
    } else {
      if (await abortHandlerInstalled(dir)) {
        // Every rank gets it (not their loader workers): each one stops at its next step end and rank 0 saves.
        for (const p of tree.trainers()) signalPid(p.pid, 'SIGABRT');
        signals.push('SIGABRT');
      } else {
        tree.signal('SIGTERM');
        signals.push('SIGTERM');
      }
      if (!(await waitFor(gone, opts.graceMs ?? 120_000))) {
        tree.signal('SIGTERM');
        signals.push('SIGTERM');
        if (!(await waitFor(gone, 15_000))) {
          tree.signal('SIGKILL');
          signals.push('SIGKILL');
        }
      }
    }
    await waitFor(() => !isAlive(pid), 15_000);
  }
  // The supervisor records the end; if it is gone (killed by hand), record it here.
  const supervisorAlive = isAlive(attempt?.supervisorPid);
  if (supervisorAlive) await waitFor(async () => TERMINAL_STATUSES.includes((await readManifest(dir))!.status), 30_000);
  m = (await readManifest(dir))!;
  if (!TERMINAL_STATUSES.includes(m.status)) {
    m = await updateManifest(dir, (cur) => {
      cur.status = 'stopped';
      const a = cur.attempts[cur.attempts.length - 1];
      if (a && !a.endedAt) a.endedAt = new Date().toISOString();
    });
  }
  return { manifest: m, signals };
}

/** Starts a new attempt from the latest complete checkpoint. */
export async function resumeRun(
  ws: Workspace,
  venv: Venv,
  ref: string,
): Promise<{ manifest: RunManifest; checkpoint: string; skipped: SkippedCheckpoint[] }> {
  const dir = await resolveRunDir(ws, ref);
  // A run whose supervisor was killed (or a machine that restarted) is recorded as ended first.
  const { manifest: m } = await reconcileRun(dir);
  if (!m)
    throw new MedtuneError({ doing: `resuming ${ref}`, problem: 'run.json is missing', next: 'check `medtune runs`', code: 'NO_RUN' });
  const attempt = m.attempts[m.attempts.length - 1];
  if (!TERMINAL_STATUSES.includes(m.status)) {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: `the run is still ${m.status} (pid ${attempt?.pid})`,
      next: `watch it with \`medtune attach ${m.id}\`, or stop it first with \`medtune stop ${m.id}\``,
      code: 'RUN_ACTIVE',
    });
  }
  if (m.status === 'completed') {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: 'the run already completed',
      next: `export it with \`medtune export ${m.id}\`, or train again with more epochs`,
      code: 'RUN_COMPLETED',
    });
  }
  const choice = await resumableCheckpoint(m.outputDir, { saveOnlyModel: await savesOnlyModel(m.trainYaml) });
  const checkpoint = choice.path;
  if (!checkpoint) {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: choice.skipped.length ? `no checkpoint in ${m.outputDir} can be resumed` : `no checkpoint in ${m.outputDir}`,
      details: choice.skipped.map((s) => `checkpoint-${s.step}: ${s.reason}`),
      next:
        (await holdsAdapter(m.outputDir)) || choice.skipped.length
          ? `start a new run from the adapter it saved: \`medtune train --from ${m.id}\` (a fresh optimizer); lower save_steps so a stop or crash loses less`
          : `start a new run with \`medtune train\`; lower save_steps so a stop or crash loses less`,
      code: 'NO_CHECKPOINT',
    });
  }
  const room = await checkpointRoom(m.outputDir, await estimatedCheckpointBytes(m));
  if (!room.ok) {
    throw new MedtuneError({
      doing: `resuming ${m.id}`,
      problem: `only ${formatBytes(room.freeBytes)} is free where ${m.outputDir} lives; the next checkpoint needs ${formatBytes(room.neededBytes)} with margin`,
      next: `free disk (or lower save_total_limit with --set when you train again), then \`medtune resume ${m.id}\``,
      code: 'DISK_TOO_SMALL',
    });
  }
  const next = await updateManifest(dir, (cur) => {
    cur.status = 'queued';
    cur.stopRequested = false;
    delete cur.cause;
  });
  const tokenized = parseYaml((await readFile(m.trainYaml, 'utf8').catch(() => '')) || '{}') as { tokenized_path?: unknown } | null;
  if (typeof tokenized?.tokenized_path === 'string') await clearIncompleteTokenized(tokenized.tokenized_path);
  spawnSupervisor(venv, dir, checkpoint);
  return { manifest: next, checkpoint, skipped: choice.skipped };
}
