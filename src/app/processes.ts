/**
 * The processes of the workspace's going runs, for the GPU screen: which run each live process belongs to (the
 * whole process tree of the newest attempt's supervisor and trainer), who runs it, and killing one of them. Only a
 * process of a run is ever signalled: the check is made again at the moment of the kill, not trusted from a view.
 */
import { liveness } from '../core/reconcile.js';
import { MedtuneError } from '../core/errors.js';
import { runRoots, type RunManifest } from '../core/run.js';
import { listRunIds, readManifest } from '../runtime/manifest.js';
import { descendants, isAlive, listProcesses, processUid, readCmdline, signalPid, userNames } from '../runtime/proctree.js';
import { procIdentity } from '../runtime/reconcile.js';
import { join } from 'node:path';
import type { App } from './context.js';

export interface ProcessInfo {
  pid: number;
  /** The user it runs as (a uid without a name reads as its number); null when it is not visible from here. */
  user: string | null;
  /** Its command line; null when it is not visible from here. */
  command: string | null;
  /** The run of this workspace whose process tree holds it; null for every other process. */
  runId: string | null;
}

export type KillSignal = 'SIGTERM' | 'SIGKILL';

/** The root pids of a going run that are still the processes the run started (not a reused number). */
function liveRoots(m: RunManifest): number[] {
  const bootId = m.attempts[m.attempts.length - 1]?.bootId;
  return runRoots(m)
    .filter((r) => liveness(isAlive(r.pid), { bootId, startTicks: r.startTicks }, procIdentity(r.pid)) === 'alive')
    .map((r) => r.pid);
}

/** Every live process of every going run of the workspace, with its run's id. */
export async function runProcessOwners(app: App): Promise<Map<number, string>> {
  const owners = new Map<number, string>();
  const roots: Array<[number, string]> = [];
  for (const id of await listRunIds(app.ws)) {
    const m = await readManifest(join(app.ws.runsDir, id)).catch(() => undefined);
    if (m) for (const pid of liveRoots(m)) roots.push([pid, m.id]);
  }
  if (!roots.length) return owners;
  const procs = listProcesses();
  for (const [root, id] of roots) for (const p of descendants(root, procs)) owners.set(p.pid, id);
  return owners;
}

/** Who runs each of these processes, its command line, and its run. */
export async function describeProcesses(app: App, pids: readonly number[]): Promise<ProcessInfo[]> {
  const owners = await runProcessOwners(app);
  const names = userNames();
  return pids.map((pid) => {
    const uid = processUid(pid);
    const command = uid === null ? null : readCmdline(pid) || null;
    return { pid, user: uid === null ? null : (names.get(uid) ?? String(uid)), command, runId: owners.get(pid) ?? null };
  });
}

/** Sends `signal` to one process of a going run of the workspace; refuses any other process. */
export async function killRunProcess(app: App, pid: number, signal: KillSignal): Promise<{ runId: string }> {
  const doing = `sending ${signal} to process ${pid}`;
  const runId = (await runProcessOwners(app)).get(pid);
  if (runId === undefined) {
    const alive = isAlive(pid);
    throw new MedtuneError({
      doing,
      problem: alive ? 'it is not a process of a going medtune run of this workspace' : 'the process has ended',
      ...(alive ? { next: `medtune kills only its own runs' processes; end another with \`kill ${pid}\` as its owner` } : {}),
      code: alive ? 'NOT_RUN_PROCESS' : 'NO_PROCESS',
    });
  }
  if (!signalPid(pid, signal)) {
    throw new MedtuneError({
      doing,
      problem: isAlive(pid) ? 'the signal was refused (the process belongs to another user)' : 'the process ended meanwhile',
      next: `stop the whole run with \`medtune stop ${runId} --now\``,
      code: 'KILL_FAILED',
    });
  }
  return { runId };
}
