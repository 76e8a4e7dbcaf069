import { Box } from 'ink';
import type { GpuMonitorState } from '../../runtime/gpu-monitor.js';
import { GpuMonitorPanel, monitorNotes } from '../gpu/GpuMonitorPanel.js';
import { useGpuState } from '../gpu-context.js';
import { Section } from './Section.js';

/** Rows the panel needs: one per GPU (or the host line) when compact; cards and processes when not. */
export function gpuRows(state: GpuMonitorState, compact: boolean, maxProcesses: number): number {
  if (state.mode === 'starting') return 1;
  if (state.mode === 'host') return compact ? 1 : 3;
  const gpus = state.samples[state.samples.length - 1]?.gpus.length ?? 1;
  const notes = monitorNotes(state).length;
  if (compact) return Math.max(1, gpus) + notes;
  return gpus * 6 + 2 + Math.min(maxProcesses, Math.max(1, state.processes.length)) + notes;
}

export interface GpuStripProps {
  width: number;
  compact: boolean;
  /** The run's peak reserved memory, shown beside the live value. */
  peakReservedGiB?: number | null;
  maxProcesses?: number;
  /** The run's GPUs (CUDA_VISIBLE_DEVICES entries), marked in the panel. */
  runDevices?: readonly string[] | null;
}

/** The GPU panels under a "GPU" heading; the CPU/RAM fallback when there is no NVIDIA GPU. */
export function GpuStrip({ width, compact, peakReservedGiB = null, maxProcesses = 4, runDevices = null }: GpuStripProps) {
  const state = useGpuState();
  return (
    <Section title={state.mode === 'host' ? 'Host' : 'GPU'} width={width} height={gpuRows(state, compact, maxProcesses) + 1} flexShrink={0}>
      <Box flexDirection="column">
        <GpuMonitorPanel state={state} compact={compact} width={width} peakReservedGiB={peakReservedGiB} maxProcesses={maxProcesses} runDevices={runDevices} />
      </Box>
    </Section>
  );
}
