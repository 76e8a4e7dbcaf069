/** `medtune gpu`: live GPU panels full-screen, or one snapshot (`--once`, `--json`). */
import type { Command } from 'commander';
import { gpuSnapshot, gpuWatch } from '../../app/index.js';
import { MedtuneError } from '../../core/errors.js';
import { decodeClockEventReasons, gib, toSnapshotJson, type GpuProcessView, type GpuSample } from '../../core/gpu.js';
import { action } from '../command.js';

export const order = 70;

interface GpuFlags {
  once?: boolean;
  json?: boolean;
  run?: string;
  devices?: string;
  interval: string;
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
        const watch = await gpuWatch(ctx.app, { run: flags.run, devices: flags.devices, intervalMs });
        if (flags.once || ctx.json) {
          const [snap, peak] = await Promise.all([gpuSnapshot(watch), watch.readPeak ? watch.readPeak() : Promise.resolve(null)]);
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
        await openGpuScreen({ options: watch.options, title: watch.title, readPeak: watch.readPeak });
      }),
    );
}
