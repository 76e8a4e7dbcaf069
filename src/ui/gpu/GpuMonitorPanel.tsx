/** A monitor's state as a panel: GPUs when there are any, else the CPU/RAM fallback with its reason. */
import { Text } from 'ink';
import type { GpuMonitorState } from '../../runtime/gpu-monitor.js';
import type { Theme } from '../theme.js';
import { GpuPanel } from './GpuPanel.js';
import { HostPanel } from './HostPanel.js';

export interface GpuMonitorPanelProps {
  state: GpuMonitorState;
  peakReservedGiB?: number | null;
  compact?: boolean;
  width?: number;
  maxProcesses?: number;
  theme?: Theme;
  /** The run's GPUs (CUDA_VISIBLE_DEVICES entries), marked in the panel. */
  runDevices?: readonly string[] | null;
}

/** The footnotes a GPU state carries, in words. */
export function monitorNotes(state: GpuMonitorState): string[] {
  if (state.mode !== 'gpu') return [];
  const notes: string[] = [];
  if (state.warning) notes.push(state.warning);
  if (state.droppedFields.length) notes.push(`this driver does not report ${state.droppedFields.join(', ')}`);
  if (state.ignoredDevices.length) notes.push(`CUDA_VISIBLE_DEVICES entries that name no GPU: ${state.ignoredDevices.join(',')}`);
  return notes;
}

/** The terminal rows GpuMonitorPanel takes for a state, so a screen can lay out around it. */
export function panelRows(state: GpuMonitorState, compact: boolean, maxProcesses = 8): number {
  if (state.mode === 'starting') return 1;
  if (state.mode === 'host') return compact ? 1 : 3;
  const gpus = state.samples[state.samples.length - 1]?.gpus.length ?? 0;
  const notes = monitorNotes(state).length;
  if (gpus === 0) return 1;
  if (compact) return gpus + notes;
  const procs = state.processes.length;
  const shown = Math.min(maxProcesses, procs);
  // Each card is 5 lines and a gap; then the heading, the column header, the rows (or "no compute
  // processes"), "+N more", the owner-unknown footnote.
  return gpus * 6 + 2 + Math.max(1, shown) + (procs > shown ? 1 : 0) + (state.processes.some((p) => p.owner === 'unknown') ? 1 : 0) + notes;
}

export function GpuMonitorPanel({ state, peakReservedGiB, compact, width, maxProcesses, theme, runDevices }: GpuMonitorPanelProps) {
  switch (state.mode) {
    case 'starting':
      return <Text dimColor>starting nvidia-smi…</Text>;
    case 'host':
      return <HostPanel reason={state.reason} samples={state.samples} compact={compact} width={width} theme={theme} />;
    case 'gpu':
      return (
        <GpuPanel
          samples={state.samples}
          processes={state.processes}
          peakReservedGiB={peakReservedGiB}
          compact={compact}
          width={width}
          notes={monitorNotes(state)}
          maxProcesses={maxProcesses}
          theme={theme}
          runDevices={runDevices}
        />
      );
  }
}
