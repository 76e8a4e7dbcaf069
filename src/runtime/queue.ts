/**
 * The run queue: runs whose run.json says `queued` with a `queue` entry wait without any process. Whoever looks
 * next starts those whose turn has come (core/queue.ts decides): the supervisor of every run as it ends, and every
 * medtune command as it starts. So the queue needs no keeper of its own and survives a closed terminal and a
 * reboot. One lock (runs/.queue.lock) makes the look-and-start atomic across processes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { devicesHeld, planQueueStarts, type WaitingRun } from '../core/queue.js';
import { TERMINAL_STATUSES, type RunManifest } from '../core/run.js';
import { withLock } from './atomic.js';
import { listRunIds, readManifest, updateManifest } from './manifest.js';
import { isWaiting } from './queuestate.js';
import { reconcileRun } from './reconcile.js';
import { spawnSupervisor } from './launch.js';
import { clearIncompleteTokenized } from './tokcache.js';
import { listGpus } from './gpu-monitor.js';
import { requireVenv, type Venv } from './venv.js';
import type { Workspace } from './workspace.js';

export interface QueueMachine {
  venv(): Promise<Venv>;
  /** GPU indices of this machine (empty without a GPU). */
  gpuIndices(): Promise<string[]>;
}

/** Waiting runs in queue order, the others by id (with their ended or going state brought up to date). */
async function readQueue(ws: Workspace): Promise<{ waiting: RunManifest[]; others: RunManifest[] }> {
  const waiting: RunManifest[] = [];
  const others: RunManifest[] = [];
  for (const id of await listRunIds(ws)) {
    const dir = join(ws.runsDir, id);
    const m = await readManifest(dir).catch(() => undefined);
    if (!m) continue;
    if (isWaiting(m)) waiting.push(m);
    else others.push(TERMINAL_STATUSES.includes(m.status) ? m : ((await reconcileRun(dir).catch(() => ({ manifest: m }))).manifest ?? m));
  }
  waiting.sort((a, b) => a.queue!.queuedAt.localeCompare(b.queue!.queuedAt) || a.id.localeCompare(b.id));
  return { waiting, others };
}

/** The waiting runs of a workspace, in the order they will be considered. */
export async function queuedRuns(ws: Workspace): Promise<RunManifest[]> {
  return (await readQueue(ws)).waiting;
}

/** Starts every waiting run whose turn has come; returns their ids. Cheap when nothing waits. */
export async function startQueuedRuns(ws: Workspace, machine: QueueMachine): Promise<string[]> {
  if (!(await readQueue(ws)).waiting.length) return [];
  return withLock(join(ws.runsDir, '.queue'), async () => {
    const { waiting, others } = await readQueue(ws);
    if (!waiting.length) return [];
    const gpus = await machine.gpuIndices();
    const devices = gpus.length ? gpus : ['cpu'];
    const busy = new Set<string>();
    for (const m of others) if (!TERMINAL_STATUSES.includes(m.status)) for (const d of devicesHeld(m.env, devices)) busy.add(d);
    const known = new Set([...waiting, ...others].map((m) => m.id));
    const ended = new Set(others.filter((m) => TERMINAL_STATUSES.includes(m.status)).map((m) => m.id));
    const plan = planQueueStarts(
      waiting.map(
        (m): WaitingRun => ({
          id: m.id,
          ...(m.queue!.after ? { after: m.queue!.after } : {}),
          devices: m.queue!.devices,
          count: m.queue!.count,
        }),
      ),
      // A run waited for that no longer exists (its folder removed) holds nothing back.
      { devices, busy, ended: new Set([...ended, ...waiting.map((m) => m.queue!.after).filter((a): a is string => !!a && !known.has(a))]) },
    );
    const started: string[] = [];
    for (const s of plan) {
      const dir = join(ws.runsDir, s.id);
      let claimed = false;
      const m = await updateManifest(dir, (cur) => {
        if (!isWaiting(cur)) return;
        // An unpinned run on a GPU host gets the GPUs it was given, whatever it was planned with.
        if (gpus.length && cur.queue!.devices === null) cur.env = { ...cur.env, CUDA_VISIBLE_DEVICES: s.devices.join(',') };
        delete cur.queue;
        claimed = true;
      });
      if (!claimed) continue;
      const yaml = parseYaml((await readFile(m.trainYaml, 'utf8').catch(() => '')) || '{}') as { tokenized_path?: unknown } | null;
      if (typeof yaml?.tokenized_path === 'string') await clearIncompleteTokenized(yaml.tokenized_path);
      spawnSupervisor(await machine.venv(), dir);
      started.push(s.id);
    }
    return started;
  });
}

/** This host as the queue sees it: the managed venv, and the GPUs nvidia-smi lists. */
export function hostMachine(env: NodeJS.ProcessEnv = process.env): QueueMachine {
  return {
    venv: () => requireVenv(env),
    gpuIndices: async () => (await listGpus(env)).gpus.map((g) => String(g.index)),
  };
}
