import { Box, Text } from 'ink';
import { comparisonChart, comparisonTableLines, legendLines, type Comparison } from '../../core/runcompare.js';
import { useTheme } from '../context.js';

/** One colour per run (cycling like the markers); under NO_COLOR the markers alone tell the runs apart. */
const RUN_COLOURS = ['cyan', 'magenta', 'yellow', 'green', 'blue', 'red'];

/** Runs side by side: the overlaid loss chart, its legend, the parameters that differ, results and scores. */
export function RunsComparison({ comparison, width, height }: { comparison: Comparison; width: number; height: number }) {
  const theme = useTheme();
  const colour = (run: number | null) => (theme.noColor || run === null ? undefined : RUN_COLOURS[run % RUN_COLOURS.length]);
  const tables = comparisonTableLines(comparison);
  const legend = legendLines(comparison);
  const chartH = Math.max(4, height - tables.length - legend.length - 6);
  const chart = comparisonChart(comparison, { width, height: chartH });
  return (
    <Box flexDirection="column" width={width} height={height} overflow="hidden">
      {chart.rows.length ? (
        <>
          {chart.rows.map((row, i) => (
            <Box key={i} height={1} flexShrink={0}>
              <Text dimColor>{row.label} ┤</Text>
              {row.segments.map((s, j) => (
                <Text key={j} color={colour(s.run)}>{s.text}</Text>
              ))}
            </Box>
          ))}
          {chart.axisLines.map((l, i) => (
            <Text key={`x${i}`} dimColor wrap="truncate-end">{l}</Text>
          ))}
        </>
      ) : (
        <Text dimColor>no loss logged yet by any of these runs</Text>
      )}
      {legend.map((l, i) => (
        <Text key={`l${i}`} color={colour(i)} wrap="truncate-end">{l}</Text>
      ))}
      {tables.map((l, i) => (
        <Text key={`t${i}`} wrap="truncate-end">{l || ' '}</Text>
      ))}
    </Box>
  );
}
