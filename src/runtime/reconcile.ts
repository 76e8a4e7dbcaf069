/**
 * Brings a run.json that still says "training" in line with reality when its supervisor is gone (kill -9, OOM
 * killer, a reboot): every reader (`status`, `runs`, the TUI, `resume`, `stop`) calls reconcileRun first, so a run
 * is never left "running" forever. The decision is core/reconcile.ts; this file gathers the facts.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { liveness, reconcile, type ProcIdentity, type ProcLiveness, type Reconciliation } from '../core/reconcile.js';
import type { RunManifest } from '../core/run.js';
import { TERMINAL_STATUSES } from '../core/run.js';
import { decodeTrainerLine } from '../core/trainerlog.js';
import { isAlive } from './proctree.js';
import { readHeadTail } from './follow.js';
import { listCheckpoints } from './checkpoints.js';
import { readManifest, updateManifest } from './manifest.js';

let bootIdCache: string | undefined;

export function currentBootId(): string | undefined {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  return bootIdCache;
}

/** The identity of a live process (boot id and start time), or null when it is gone or /proc cannot tell. */
export function procIdentity(pid: number | undefined): ProcIdentity | null {
  if (!pid) return null;
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): state is field 3, starttime field 22.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(rest[19]);
    const bootId = currentBootId();
    return { ...(bootId ? { bootId } : {}), ...(Number.isFinite(startTicks) ? { startTicks } : {}) };
  } catch {
    return null;
  }
}

function lookUp(pid: number | undefined, recorded: ProcIdentity): ProcLiveness {
  const alive = isAlive(pid);
  return liveness(alive, recorded, alive ? procIdentity(pid) : null);
}

/** Whether the supervisor of a run's last attempt still lives (checked by its start time, not its pid alone). */
export function attemptSupervisorAlive(m: RunManifest): boolean {
  const a = m.attempts[m.attempts.length - 1];
  if (!a?.supervisorPid) return false;
  return lookUp(a.supervisorPid, { bootId: a.bootId, startTicks: a.supervisorStartTicks }) === 'alive';
}

async function lastLoggedStep(outputDir: string): Promise<{ step: number; totalSteps: number | null }> {
  const got = await readHeadTail(join(outputDir, 'trainer_log.jsonl'), 0, 16 * 1024).catch(() => null);
  const lines = got?.text.split('\n') ?? [];
  for (let i = lines.length - 1; i >= 0; i--) {
    const r = decodeTrainerLine(lines[i]!);
    if (r) return { step: r.step, totalSteps: r.totalSteps || null };
  }
  return { step: 0, totalSteps: null };
}

async function exists(path: string): Promise<boolean> {
  return stat(path)
    .then((s) => s.isFile() && s.size > 0)
    .catch(() => false);
}

/** The facts and the decision for one run (writes nothing). */
export async function inspectRun(m: RunManifest, nowMs = Date.now()): Promise<Reconciliation> {
  if (TERMINAL_STATUSES.includes(m.status)) return { action: 'none' };
  const a = m.attempts[m.attempts.length - 1];
  const bootNow = currentBootId();
  const rebooted = !!(a?.bootId && bootNow && a.bootId !== bootNow);
  // A queued run's supervisor announces itself in run.json (supervisorPid) before its first attempt.
  const supPid = a && !a.endedAt ? a.supervisorPid : m.supervisor?.pid;
  const supId =
    a && !a.endedAt
      ? { bootId: a.bootId, startTicks: a.supervisorStartTicks }
      : { bootId: m.supervisor?.bootId, startTicks: m.supervisor?.startTicks };
  const supervisor = rebooted ? 'gone' : lookUp(supPid, supId);
  // The common case, read on every view: a live supervisor speaks for the run.
  if (supervisor === 'alive') return { action: 'none' };
  const outputDir = isAbsolute(m.outputDir) ? m.outputDir : resolve(m.cwd, m.outputDir);
  const { step, totalSteps } = await lastLoggedStep(outputDir);
  const results = (await exists(join(outputDir, 'train_results.json'))) || (await exists(join(outputDir, 'all_results.json')));
  const checkpoints = (await listCheckpoints(outputDir)).filter((c) => c.complete).map((c) => c.step);
  return reconcile({
    manifest: m,
    supervisor,
    trainer: rebooted || !a ? 'gone' : lookUp(a.pid, { bootId: a.bootId, startTicks: a.pidStartTicks }),
    rebooted,
    results,
    step,
    totalSteps,
    checkpoints,
    nowMs,
  });
}

/**
 * Reads run.json and, when its supervisor is gone for good, records what happened (status and a typed cause)
 * under the run's lock. Returns the manifest as it now stands and the note for an orphaned trainer.
 */
export async function reconcileRun(dir: string): Promise<{ manifest: RunManifest | undefined; note?: string }> {
  const m = await readManifest(dir);
  if (!m || TERMINAL_STATUSES.includes(m.status)) return { manifest: m };
  const verdict = await inspectRun(m);
  if (verdict.action === 'none') return { manifest: m };
  if (verdict.action === 'orphaned') return { manifest: m, note: verdict.note };
  const next = await updateManifest(dir, (cur) => {
    // Someone (a new supervisor, `stop`) may have moved it on while we looked.
    if (TERMINAL_STATUSES.includes(cur.status) || cur.updatedAt !== m.updatedAt) return;
    cur.status = verdict.status;
    const a = cur.attempts[cur.attempts.length - 1];
    if (a && !a.endedAt) {
      a.endedAt = new Date().toISOString();
      if (verdict.cause) a.cause = verdict.cause;
    }
    if (verdict.cause) cur.cause = verdict.cause;
    else delete cur.cause;
  });
  return { manifest: next };
}
