import { useMemo } from 'react';
import { Box, Text } from 'ink';
import type { TrainerRecord } from '../../core/run.js';
import { chartRowRuns, emaSmooth, formatTick, lineChart, type ChartSeries } from '../../core/chart.js';
import { useTheme } from '../context.js';

export interface LossChartProps {
  records: readonly TrainerRecord[];
  totalSteps: number | null;
  /** Cells, including the y labels. */
  width: number;
  /** Rows, including the x axis and the legend. */
  height: number;
}

const LABEL_W = 7;

/**
 * Training loss (raw and smoothed) and eval loss against the step. Without colour the raw series is left
 * out: braille dots of two series in one cell cannot be told apart.
 */
export function LossChart({ records, totalSteps, width, height }: LossChartProps) {
  const theme = useTheme();
  const plotW = Math.max(8, width - LABEL_W - 1);
  const plotH = Math.max(2, height - 2);
  const chart = useMemo(() => {
    const train = records.filter((r) => r.loss !== undefined && Number.isFinite(r.loss));
    const evals = records.filter((r) => r.evalLoss !== undefined && Number.isFinite(r.evalLoss));
    if (train.length === 0 && evals.length === 0) return null;
    const smooth = emaSmooth(train.map((r) => r.loss!));
    const series: ChartSeries[] = [
      { name: 'raw', kind: 'line', points: theme.noColor ? [] : train.map((r) => [r.step, r.loss!] as const) },
      { name: 'smoothed', kind: 'line', points: train.map((r, i) => [r.step, smooth[i]!] as const) },
      { name: 'eval', kind: 'points', marker: 'x', points: evals.map((r) => [r.step, r.evalLoss!] as const) },
    ];
    const maxStep = Math.max(totalSteps ?? 0, ...records.map((r) => r.step), 1);
    const ys = [...train.map((r) => r.loss!), ...evals.map((r) => r.evalLoss!)];
    const lo = Math.min(...ys);
    const hi = Math.max(...ys);
    const pad = hi === lo ? Math.max(0.05, Math.abs(hi) * 0.1) : 0;
    return lineChart(series, { width: plotW, height: plotH, xRange: [0, maxStep], yRange: [lo - pad, hi + pad] });
  }, [records, totalSteps, plotW, plotH, theme.noColor]);

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
