/** The panel where there is no NVIDIA GPU: why, then CPU and RAM with history. */
import { Box, Text } from 'ink';
import { meter } from '../../core/chart.js';
import { fixedSparkline, gib, type HostSample } from '../../core/gpu.js';
import type { Theme } from '../theme.js';
import { usePanelTheme } from './GpuPanel.js';

export interface HostPanelProps {
  /** One line: why there are no GPU panels (e.g. "nvidia-smi not found on PATH"). */
  reason: string;
  samples: readonly HostSample[];
  compact?: boolean;
  width?: number;
  theme?: Theme;
}

export function HostPanel({ reason, samples, compact = false, width = 80, theme: given }: HostPanelProps) {
  const theme = usePanelTheme(given);
  const latest = samples[samples.length - 1];
  const sparkWidth = Math.max(0, Math.min(60, width - 48));
  const cpu = latest?.cpuPct ?? null;
  const memFrac = latest ? latest.memUsedMiB / latest.memTotalMiB : 0;
  const cpuText = latest ? `${cpu === null ? '  ?' : cpu.toFixed(0).padStart(3)}% of ${latest.cpuCount} cores${latest.load1 !== null ? `  load ${latest.load1.toFixed(2)}` : ''}` : 'reading…';
  const memText = latest ? `${gib(latest.memUsedMiB)} / ${gib(latest.memTotalMiB)} GiB ${meter(memFrac, 10)}` : 'reading…';
  if (compact) {
    return (
      <Box height={1}>
        <Text dimColor wrap="truncate-end">No GPU ({reason}) · CPU {cpuText} · RAM {memText}</Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column" flexShrink={0} width={width}>
      <Text color={theme.warn} wrap="truncate-end">No NVIDIA GPU: {reason}. Showing CPU and RAM.</Text>
      <Box height={1}>
        <Text dimColor>{'CPU'.padEnd(8)}</Text>
        <Box width={38} flexShrink={0}><Text wrap="truncate-end">{cpuText}</Text></Box>
        {sparkWidth >= 8 ? <Text color={theme.accent}> {fixedSparkline(samples.map((s) => s.cpuPct), sparkWidth, 100)}</Text> : null}
      </Box>
      <Box height={1}>
        <Text dimColor>{'RAM'.padEnd(8)}</Text>
        <Box width={38} flexShrink={0}><Text wrap="truncate-end">{memText}</Text></Box>
        {sparkWidth >= 8 && latest ? <Text color={theme.accent}> {fixedSparkline(samples.map((s) => s.memUsedMiB), sparkWidth, latest.memTotalMiB)}</Text> : null}
      </Box>
    </Box>
  );
}
