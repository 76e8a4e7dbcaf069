import { Box, Text } from 'ink';
import type { RunView } from '../../core/run.js';
import { meter } from '../../core/chart.js';
import { cutRunId } from '../../core/textfit.js';
import { useTheme } from '../context.js';
import { statusColor } from '../theme.js';
import { etaText, lossText, percentOf, stepColumnWidth, stepText } from '../view.js';

/**
 * One run on a line: id, status, progress, step, latest loss, ETA; a failed run shows its cause instead. A list
 * passes one `stepWidth` for all its rows (stepColumnWidth), wide enough for the longest step count.
 */
export function RunRow({ run, width, stepWidth }: { run: RunView; width: number; stepWidth?: number }) {
  const theme = useTheme();
  const stepW = stepWidth ?? stepColumnWidth([run]);
  const idW = Math.max(14, Math.min(36, width - 47 - stepW));
  const pct = percentOf(run);
  return (
    <Box height={1} flexShrink={0} width={width}>
      <Box width={idW} flexShrink={0} marginRight={1}><Text wrap="truncate-end">{cutRunId(run.id, idW)}</Text></Box>
      <Box width={10} flexShrink={0}><Text color={statusColor(theme, run.status)} bold={run.status === 'failed'}>{run.status}</Text></Box>
      {run.status === 'failed' && run.cause
        ? <Text color={theme.error} wrap="truncate-end">{run.cause.code}: {run.cause.summary}</Text>
        : (
          <>
            <Text color={statusColor(theme, run.status)}>{meter((pct ?? 0) / 100, 8)}</Text>
            <Box width={5} flexShrink={0} justifyContent="flex-end"><Text>{pct === null ? '' : `${Math.floor(pct)}%`}</Text></Box>
            <Box width={stepW} flexShrink={0} justifyContent="flex-end"><Text>{stepText(run)}</Text></Box>
            <Box width={12} flexShrink={0} justifyContent="flex-end"><Text>loss {lossText(run.loss)}</Text></Box>
            <Box width={9} flexShrink={0} justifyContent="flex-end"><Text dimColor={!run.etaSeconds}>{etaText(run)}</Text></Box>
          </>
        )}
    </Box>
  );
}
