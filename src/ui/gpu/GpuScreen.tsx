/** `medtune gpu`: the GPU panels full-screen; q or Esc quits. */
import { useEffect, useState } from 'react';
import { Box, Text, useApp, useInput, useStdin } from 'ink';
import type { GpuMonitorOptions } from '../../runtime/gpu-monitor.js';
import { useTerminalSize } from '../hooks/useTerminalSize.js';
import { GpuMonitorPanel } from './GpuMonitorPanel.js';
import { usePanelTheme } from './GpuPanel.js';
import { useGpuMonitor } from './useGpuMonitor.js';

export interface GpuScreenProps {
  options?: GpuMonitorOptions;
  /** What is being watched, e.g. "run 20261127-…" (default: "all GPUs"). */
  title?: string;
  /** Reads the run's peak reserved memory (GiB) from its trainer log; polled every `peakEveryMs`. */
  readPeak?: () => Promise<number | null>;
  peakEveryMs?: number;
}

function usePeak(readPeak: GpuScreenProps['readPeak'], everyMs: number): number | null {
  const [peak, setPeak] = useState<number | null>(null);
  useEffect(() => {
    if (!readPeak) return;
    let alive = true;
    const read = () =>
      void readPeak().then(
        (v) => alive && setPeak(v),
        () => undefined,
      );
    read();
    const t = setInterval(read, everyMs);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [readPeak, everyMs]);
  return peak;
}

export function GpuScreen({ options, title = 'all GPUs', readPeak, peakEveryMs = 5000 }: GpuScreenProps) {
  const state = useGpuMonitor(options);
  const peak = usePeak(readPeak, peakEveryMs);
  const theme = usePanelTheme();
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { columns, rows } = useTerminalSize();
  useInput(
    (input, key) => {
      if (input === 'q' || key.escape) exit();
    },
    { isActive: isRawModeSupported === true },
  );
  const width = Math.max(40, columns - 2);
  // A card is five lines and a gap; the rest of the screen goes to processes.
  const gpuRows = state.mode === 'gpu' ? (state.samples[state.samples.length - 1]?.gpus.length ?? 0) * 6 : 4;
  const maxProcesses = Math.max(1, rows - gpuRows - 6);
  return (
    <Box flexDirection="column" paddingX={1}>
      <Box height={1} marginBottom={1}>
        <Text bold color={theme.accent}>medtune gpu</Text>
        <Text dimColor> · {title}</Text>
        <Box flexGrow={1} />
        <Text dimColor>{options?.intervalMs ?? 1000} ms</Text>
      </Box>
      <GpuMonitorPanel state={state} peakReservedGiB={peak} width={width} maxProcesses={maxProcesses} theme={theme} />
      <Box height={1} marginTop={1}>
        <Text bold>q</Text>
        <Text dimColor> quit  </Text>
        <Text bold>esc</Text>
        <Text dimColor> quit</Text>
      </Box>
    </Box>
  );
}
