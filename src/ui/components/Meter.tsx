import { Box, Text } from 'ink';
import { meter } from '../../core/chart.js';
import { useTheme } from '../context.js';

export interface MeterProps {
  done: number;
  total: number | null;
  width: number;
  /** Shown after the bar; defaults to the percentage. */
  label?: string;
  color?: string;
}

/** A progress bar with its percentage; an unknown total shows as an empty bar with "…". */
export function Meter({ done, total, width, label, color }: MeterProps) {
  const theme = useTheme();
  const frac = total ? done / total : 0;
  const pct = total ? `${Math.min(100, Math.floor(frac * 100))}%` : '…';
  return (
    <Box flexShrink={0}>
      <Text color={color ?? theme.accent}>{meter(frac, width)}</Text>
      <Text> {label ?? pct}</Text>
    </Box>
  );
}
