/** `medtune gpu`: live GPU panels full-screen, or one snapshot (`--once`, `--json`). */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { MedtuneError } from '../../core/errors.js';
import { readTrainerLogSummary } from '../../runtime/trainerlogfile.js';
import { decodeClockEventReasons, gib, toSnapshotJson, type GpuProcessView, type GpuSample } from '../../core/gpu.js';
import { processTreePids, readGpuSnapshot, visibleDevicesOf, type GpuMonitorOptions } from '../../runtime/gpu-monitor.js';
import { readManifest, resolveRunDir } from '../../runtime/manifest.js';
import type { Workspace } from '../../runtime/workspace.js';
import { action } from '../command.js';

export const order = 70;

interface GpuFlags {
  once?: boolean;
  json?: boolean;
  run?: string;
  devices?: string;
  interval: string;
}

interface RunContext {
  title: string;
  options: GpuMonitorOptions;
  readPeak: () => Promise<number | null>;
}

/** The run's process tree, the GPUs it sees (its recorded env, else its live environment) and its trainer log. */
async function runContext(ws: Workspace, ref: string): Promise<RunContext> {
  const dir = await resolveRunDir(ws, ref);
  const m = await readManifest(dir);
  if (!m)
    throw new MedtuneError({
      doing: `watching the GPUs of run ${ref}`,
      problem: `${dir}/run.json is missing`,
      next: 'list runs with `medtune runs`',
      code: 'NO_RUN',
    });
  const last = m.attempts[m.attempts.length - 1];
  const roots = [last?.supervisorPid, last?.pid].filter((p): p is number => typeof p === 'number');
  let visibleDevices: string | undefined = m.env.CUDA_VISIBLE_DEVICES;
  if (visibleDevices === undefined && last?.pid) {
    const live = await visibleDevicesOf(last.pid);
    if (live !== null) visibleDevices = live;
  }
  const log = join(resolve(m.cwd, m.outputDir), 'trainer_log.jsonl');
  return {
    title: `run ${m.id}${visibleDevices !== undefined ? ` · CUDA_VISIBLE_DEVICES=${visibleDevices}` : ''}`,
    options: { ownPids: () => processTreePids(roots), visibleDevices },
    // The bounded summary (cached for large logs), not a whole parse every poll: a log of a long run is huge.
    readPeak: async () => (await readTrainerLogSummary(log).catch(() => null))?.summary.peakVramGiB ?? null,
  };
}

function sampleLines(sample: GpuSample, processes: readonly GpuProcessView[], peak: number | null): string[] {
  const lines = sample.gpus.map((g) => {
    const reasons = decodeClockEventReasons(g.clockEventReasons);
    return [
      `GPU ${g.index}  ${g.name ?? '?'}`,
      `util ${g.utilizationPct ?? '?'}%`,
      `mem ${gib(g.memoryUsedMiB)}/${gib(g.memoryTotalMiB)} GiB${g.memoryReservedMiB !== null ? ` (+${gib(g.memoryReservedMiB)} reserved)` : ''}${peak !== null ? ` peak ${peak.toFixed(1)}` : ''}`,
      `power ${g.powerW ?? '?'}/${g.powerLimitW ?? '?'} W`,
      `${g.temperatureC ?? '?'}°C`,
      `SM ${g.smClockMHz ?? '?'} MHz`,
      reasons.length ? reasons.join(', ') : 'full clocks',
    ].join('  ');
  });
  if (processes.length === 0) lines.push('no compute processes');
  for (const p of processes) {
    const gpu = sample.gpus.find((g) => g.uuid === p.gpuUuid)?.index ?? '?';
    const owner = p.owner === 'run' ? '  [this run]' : p.owner === 'unknown' ? '  [owner unknown]' : '';
    lines.push(`pid ${p.pid}  GPU ${gpu}  ${p.usedMemoryMiB === null ? '?' : gib(p.usedMemoryMiB)} GiB  ${p.name ?? '?'}${owner}`);
  }
  return lines;
}

export function register(program: Command): void {
  program
    .command('gpu')
    .description('watch the GPUs like nvidia-smi: utilisation, memory, power, clocks, processes (CPU and RAM without a GPU)')
    .option('--once', 'print one snapshot and exit')
    .option('--json', 'print one snapshot as a JSON object (implies --once)')
    .option('--run <id>', "only the run's GPUs, its processes marked, its peak memory from trainer_log.jsonl")
    .option('--devices <list>', 'only these GPUs, written like CUDA_VISIBLE_DEVICES (indices or UUIDs)')
    .option('--interval <ms>', 'refresh period in milliseconds', '1000')
    .addHelpText('after', '\nMEDTUNE_NVIDIA_SMI names the nvidia-smi executable (default: the one on PATH).')
    .action(
      action(async (ctx, flags: GpuFlags) => {
        const intervalMs = Number(flags.interval);
        if (!Number.isInteger(intervalMs) || intervalMs < 100) {
          throw new MedtuneError({
            doing: 'starting the GPU monitor',
            problem: `--interval ${flags.interval} is not a whole number of milliseconds ≥ 100`,
            next: 'try --interval 1000',
            code: 'BAD_OPTION',
          });
        }
        const run = flags.run ? await runContext(ctx.workspace, flags.run) : null;
        const options: GpuMonitorOptions = { ...run?.options, intervalMs };
        if (flags.devices !== undefined) options.visibleDevices = flags.devices;
        if (flags.once || ctx.json) {
          const [snap, peak] = await Promise.all([readGpuSnapshot(options), run ? run.readPeak() : Promise.resolve(null)]);
          if (snap.mode === 'host') {
            const h = snap.host;
            ctx.reporter.result(
              {
                gpus: [],
                processes: [],
                reason: snap.reason,
                host: {
                  cpuPct: h.cpuPct,
                  cpuCount: h.cpuCount,
                  memUsedMiB: Math.round(h.memUsedMiB),
                  memTotalMiB: Math.round(h.memTotalMiB),
                  load1: h.load1,
                },
              },
              [
                `No NVIDIA GPU: ${snap.reason}`,
                `CPU ${h.cpuPct === null ? '?' : h.cpuPct.toFixed(0)}% of ${h.cpuCount} cores · RAM ${gib(h.memUsedMiB)}/${gib(h.memTotalMiB)} GiB`,
              ],
            );
            return;
          }
          const notes = [
            ...(snap.droppedFields.length ? [`this driver does not report ${snap.droppedFields.join(', ')}`] : []),
            ...(snap.ignoredDevices.length ? [`entries that name no GPU: ${snap.ignoredDevices.join(',')}`] : []),
          ];
          ctx.reporter.result(
            {
              ...toSnapshotJson(snap.sample, snap.processes),
              peakReservedGiB: peak,
              droppedFields: snap.droppedFields,
              ignoredDevices: snap.ignoredDevices,
            },
            [...sampleLines(snap.sample, snap.processes, peak), ...notes],
          );
          return;
        }
        const { openGpuScreen } = await import('../../ui/gpu/openGpuScreen.js');
        await openGpuScreen({
          options,
          title: run?.title ?? (flags.devices !== undefined ? `CUDA_VISIBLE_DEVICES=${flags.devices}` : 'all GPUs'),
          readPeak: run?.readPeak,
        });
      }),
    );
}
