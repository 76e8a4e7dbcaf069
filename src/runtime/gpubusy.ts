/** Before a launch: who else is on the GPUs the run will use (nvidia-smi, or MEDTUNE_NVIDIA_SMI's replayer). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { APPS_QUERY_FIELDS, CSV_FORMAT, parseComputeApps } from '../core/gpu.js';
import { busyGpus, busyWarning, chosenGpus, type BusyGpu, type GpuId } from '../core/gpubusy.js';
import type { RunManifest } from '../core/run.js';
import { descendants, listProcesses } from './proctree.js';
import type { Workspace } from './workspace.js';

/** pid → id of the active medtune run (of this workspace) whose process tree holds it. */
function runOwners(ws: Workspace): Map<number, string> {
  const owners = new Map<number, string>();
  let ids: string[] = [];
  try {
    ids = readdirSync(ws.runsDir);
  } catch {
    return owners;
  }
  const procs = listProcesses();
  for (const id of ids) {
    try {
      const m = JSON.parse(readFileSync(join(ws.runsDir, id, 'run.json'), 'utf8')) as RunManifest;
      const pid = m.attempts[m.attempts.length - 1]?.pid;
      if (pid) for (const p of descendants(pid, procs)) owners.set(p.pid, m.id);
    } catch {
      // not a run
    }
  }
  return owners;
}

function localCommand(pid: number): string | null {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return cmd ? cmd.slice(0, 120) : null;
  } catch {
    return null;
  }
}

export async function findBusyGpus(ws: Workspace, cvd: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<BusyGpu[]> {
  const smi = env.MEDTUNE_NVIDIA_SMI || 'nvidia-smi';
  const ids = await execa(smi, ['--query-gpu=index,uuid', CSV_FORMAT], { reject: false, timeout: 15_000, env });
  if (ids.exitCode !== 0) return [];
  const all: GpuId[] = String(ids.stdout)
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [index, uuid] = l.split(',').map((s) => s.trim());
      return { index: Number(index), uuid: uuid || null };
    })
    .filter((g) => Number.isInteger(g.index));
  const apps = await execa(smi, [`--query-compute-apps=${APPS_QUERY_FIELDS.join(',')}`, CSV_FORMAT], {
    reject: false,
    timeout: 15_000,
    env,
  });
  if (apps.exitCode !== 0) return [];
  const owners = runOwners(ws);
  return busyGpus(chosenGpus(all, cvd), parseComputeApps(String(apps.stdout)), (pid, name) => ({
    program: localCommand(pid) ?? name ?? 'unknown program',
    run: owners.get(pid) ?? null,
  }));
}

/** Warnings (one per process) for a run about to use the GPUs of `cvd` (all when unset). */
export async function busyGpuWarnings(ws: Workspace, cvd: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  return (await findBusyGpus(ws, cvd, env).catch(() => [])).map(busyWarning);
}
