import { useMemo } from 'react';
import { Box, Text } from 'ink';
import type { RunView } from '../../core/run.js';
import { chartRowRuns, emaSmooth, formatTick, lineChart, type ChartSeries } from '../../core/chart.js';
import { envelope, means } from '../../core/curve.js';
import { useTheme } from '../context.js';

export interface LossChartProps {
  /** The run's downsampled curves (RunView.curve): bounded whatever the run's length. */
  curve: RunView['curve'];
  totalSteps: number | null;
  /** Cells, including the y labels. */
  width: number;
  /** Rows, including the x axis and the legend. */
  height: number;
}

const LABEL_W = 7;

/**
 * Training loss (raw and smoothed) and eval loss against the step. The raw line goes through each bucket's
 * lowest and highest point, so spikes show at any length; the smoothed one through the bucket means. Without
 * colour the raw series is left out: braille dots of two series in one cell cannot be told apart.
 */
export function LossChart({ curve, totalSteps, width, height }: LossChartProps) {
  const theme = useTheme();
  const plotW = Math.max(8, width - LABEL_W - 1);
  const plotH = Math.max(2, height - 2);
  const chart = useMemo(() => {
    const raw = envelope(curve.loss);
    const mean = means(curve.loss);
    const evals = envelope(curve.evalLoss);
    if (raw.length === 0 && evals.length === 0) return null;
    const smooth = emaSmooth(mean.map((p) => p[1]));
    const series: ChartSeries[] = [
      { name: 'raw', kind: 'line', points: theme.noColor ? [] : raw },
      { name: 'smoothed', kind: 'line', points: mean.map((p, i) => [p[0], smooth[i]!] as const) },
      { name: 'eval', kind: 'points', marker: 'x', points: evals },
    ];
    let maxStep = Math.max(totalSteps ?? 0, 1);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const [x, y] of [...raw, ...evals]) {
      maxStep = Math.max(maxStep, x);
      lo = Math.min(lo, y);
      hi = Math.max(hi, y);
    }
    const pad = hi === lo ? Math.max(0.05, Math.abs(hi) * 0.1) : 0;
    return lineChart(series, { width: plotW, height: plotH, xRange: [0, maxStep], yRange: [lo - pad, hi + pad] });
  }, [curve, totalSteps, plotW, plotH, theme.noColor]);

  if (!chart) {
    return (
      <Box height={height} alignItems="center" justifyContent="center">
        <Text dimColor>waiting for the first logged step…</Text>
      </Box>
    );
  }
  const [y0, y1] = chart.yRange;
  const label = (row: number): string => {
    if (row === 0) return formatTick(y1);
    if (row === plotH - 1) return formatTick(y0);
    if (plotH >= 5 && row === Math.floor((plotH - 1) / 2)) return formatTick(y0 + ((y1 - y0) * (plotH - 1 - row)) / (plotH - 1));
    return '';
  };
  return (
    <Box flexDirection="column" height={height}>
      {chart.rows.map((row, y) => (
        <Box key={y} height={1} flexShrink={0}>
          <Box width={LABEL_W} justifyContent="flex-end" flexShrink={0}><Text dimColor>{label(y)}</Text></Box>
          <Text dimColor>┤</Text>
          <Text>
            {chartRowRuns(row).map((run, i) => (
              <Text key={i} color={run.series === null ? undefined : theme.series[run.series]} bold={run.series === 2}>{run.text}</Text>
            ))}
          </Text>
        </Box>
      ))}
      <Box height={1} flexShrink={0}>
        <Box width={LABEL_W + 1} flexShrink={0} />
        <Box width={plotW} justifyContent="space-between"><Text dimColor>step 0</Text><Text dimColor>{chart.xRange[1]}</Text></Box>
      </Box>
      <Box height={1} flexShrink={0}>
        <Box width={LABEL_W + 1} flexShrink={0} />
        {theme.noColor ? null : <Text color={theme.series[0]}>⠒ raw  </Text>}
        <Text color={theme.series[1]}>⠒ smoothed{theme.noColor ? ' loss' : ''}  </Text>
        <Text color={theme.series[2]} bold>x eval loss</Text>
      </Box>
    </Box>
  );
}
