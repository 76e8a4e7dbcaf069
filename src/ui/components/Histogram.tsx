import { Box, Text } from 'ink';
import { meter } from '../../core/chart.js';
import { useTheme } from '../context.js';

export interface HistogramProps {
  counts: Readonly<Record<string, number>>;
  width: number;
  maxRows: number;
}

/** Horizontal bars, largest first; what does not fit is summed into "other". */
export function Histogram({ counts, width, maxRows }: HistogramProps) {
  const theme = useTheme();
  const sorted = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (sorted.length === 0) return <Text dimColor>no modality information</Text>;
  const rows = sorted.length > maxRows
    ? [...sorted.slice(0, maxRows - 1), ['other', sorted.slice(maxRows - 1).reduce((a, [, n]) => a + n, 0)] as [string, number]]
    : sorted;
  const total = sorted.reduce((a, [, n]) => a + n, 0);
  const labelW = Math.min(12, Math.max(...rows.map(([k]) => k.length)) + 1);
  const barW = Math.max(4, width - labelW - 13);
  const max = Math.max(...rows.map(([, n]) => n));
  return (
    <Box flexDirection="column">
      {rows.map(([k, n]) => (
        <Box key={k} height={1} flexShrink={0}>
          <Box width={labelW} flexShrink={0}><Text wrap="truncate-end">{k}</Text></Box>
          <Text color={theme.accent}>{meter(max ? n / max : 0, barW)}</Text>
          <Text> {String(n).padStart(6)} {`${Math.round((n / total) * 100)}%`.padStart(4)}</Text>
        </Box>
      ))}
    </Box>
  );
}
