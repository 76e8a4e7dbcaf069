/**
 * The GPU view, from either face: which processes are a run's (decided once: core/run.ts `runRootPids`, each
 * with its whole process tree), which GPUs it sees, and its peak memory from its trainer log.
 */
import { join, resolve } from 'node:path';
import { MedtuneError } from '../core/errors.js';
import { GpuMonitor, readGpuSnapshot, visibleDevicesOf, type GpuMonitorOptions, type GpuSnapshot } from '../runtime/gpu-monitor.js';
import { readManifest, resolveRunDir, runProcessPids } from '../runtime/manifest.js';
import { readTrainerLogSummary } from '../runtime/trainerlogfile.js';
import type { App } from './context.js';

export interface GpuWatch {
  /** What is watched: a run and the GPUs it sees, some GPUs, or all. */
  title: string;
  options: GpuMonitorOptions;
  /** The run's peak reserved GPU memory (GiB) from its trainer log; absent without a run. */
  readPeak?: () => Promise<number | null>;
}

export interface GpuWatchRequest {
  /** A run id, prefix or `latest`: only its GPUs, its processes marked. */
  run?: string;
  /** Only these GPUs, written like CUDA_VISIBLE_DEVICES. */
  devices?: string;
  intervalMs?: number;
}

/** What a GPU view watches: without a run, every GPU, with the processes of every going run of the workspace marked. */
export async function gpuWatch(app: App, req: GpuWatchRequest = {}): Promise<GpuWatch> {
  const base: GpuMonitorOptions = { env: app.env, ...(req.intervalMs !== undefined ? { intervalMs: req.intervalMs } : {}) };
  if (!req.run) {
    return {
      title: req.devices !== undefined ? `CUDA_VISIBLE_DEVICES=${req.devices}` : 'all GPUs',
      options: { ...base, ownPids: () => runProcessPids(app.ws), ...(req.devices !== undefined ? { visibleDevices: req.devices } : {}) },
    };
  }
  const dir = await resolveRunDir(app.ws, req.run);
  const m = await readManifest(dir);
  if (!m)
    throw new MedtuneError({
      doing: `watching the GPUs of run ${req.run}`,
      problem: `${dir}/run.json is missing`,
      next: 'list runs with `medtune runs`',
      code: 'NO_RUN',
    });
  // The GPUs the run sees: its recorded environment, else its trainer's live one.
  let visibleDevices: string | undefined = m.env.CUDA_VISIBLE_DEVICES;
  const pid = m.attempts[m.attempts.length - 1]?.pid;
  if (visibleDevices === undefined && pid) {
    const live = await visibleDevicesOf(pid);
    if (live !== null) visibleDevices = live;
  }
  const log = join(resolve(m.cwd, m.outputDir), 'trainer_log.jsonl');
  return {
    title: `run ${m.id}${visibleDevices !== undefined ? ` · CUDA_VISIBLE_DEVICES=${visibleDevices}` : ''}`,
    options: { ...base, ownPids: () => runProcessPids(app.ws, [dir]), visibleDevices: req.devices ?? visibleDevices },
    // The bounded summary (cached for large logs), not a whole parse every poll: a log of a long run is huge.
    readPeak: async () => (await readTrainerLogSummary(log).catch(() => null))?.summary.peakVramGiB ?? null,
  };
}

/** One reading of the GPUs (or of the host without one). */
export async function gpuSnapshot(watch: GpuWatch): Promise<GpuSnapshot> {
  return readGpuSnapshot(watch.options);
}

/** A live monitor of these options; the caller starts and stops it. */
export function gpuMonitor(options: GpuMonitorOptions): GpuMonitor {
  return new GpuMonitor(options);
}
