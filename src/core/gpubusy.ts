/**
 * A run about to start on a GPU another process already holds: which GPUs the run will use, and who is on them
 * (from `nvidia-smi --query-compute-apps`). Pure: the runtime asks nvidia-smi and /proc.
 */
import type { GpuProcess } from './gpu.js';

export interface GpuId {
  index: number;
  uuid: string | null;
}

/** The GPUs a CUDA_VISIBLE_DEVICES value selects (indices or UUIDs, GPU- prefix optional); every GPU when unset. */
export function chosenGpus(all: readonly GpuId[], cvd: string | undefined): GpuId[] {
  if (cvd === undefined || cvd.trim() === '') return [...all];
  const out: GpuId[] = [];
  for (const raw of cvd
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const byIndex = /^\d+$/.test(raw) ? all.find((g) => g.index === Number(raw)) : undefined;
    const byUuid = all.find(
      (g) =>
        g.uuid !== null && (g.uuid === raw || g.uuid === `GPU-${raw}` || g.uuid.startsWith(raw.startsWith('GPU-') ? raw : `GPU-${raw}`)),
    );
    const g = byIndex ?? byUuid;
    if (g && !out.includes(g)) out.push(g);
  }
  return out;
}

export interface BusyGpu {
  index: number;
  pid: number;
  /** What runs there: the local command line when this pid namespace shows it, else nvidia-smi's process name. */
  program: string;
  usedMemoryMiB: number | null;
  /** The medtune run that owns it, when it is one of this workspace's. */
  run: string | null;
}

export function busyGpus(
  chosen: readonly GpuId[],
  apps: readonly GpuProcess[],
  describe: (pid: number, smiName: string | null) => { program: string; run: string | null },
): BusyGpu[] {
  const out: BusyGpu[] = [];
  for (const a of apps) {
    const g = chosen.find((c) => c.uuid !== null && c.uuid === a.gpuUuid);
    if (!g) continue;
    const d = describe(a.pid, a.name);
    out.push({ index: g.index, pid: a.pid, program: d.program, usedMemoryMiB: a.usedMemoryMiB, run: d.run });
  }
  return out.sort((x, y) => x.index - y.index || x.pid - y.pid);
}

export function busyWarning(b: BusyGpu): string {
  const mem = b.usedMemoryMiB !== null ? `, holding ${(b.usedMemoryMiB / 1024).toFixed(1)} GiB` : '';
  const who = b.run ? `medtune run ${b.run} (pid ${b.pid})` : `pid ${b.pid} ${b.program}`;
  return `GPU ${b.index} is already busy: ${who}${mem}; two jobs on one GPU share its memory and compute (expect CUDA out of memory or half speed) — pick another with --gpus, or stop it first`;
}
