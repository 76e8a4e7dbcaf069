import { Box, Text } from 'ink';
import { classifyLogLine, lastRedraw } from '../../core/loglines.js';
import { logMessage } from '../../core/milestones.js';
import { useTheme } from '../context.js';

/**
 * The newest `height` lines; errors in red and bold, warnings in yellow, progress bars dimmed.
 * `compact` drops the `[INFO|date] logger:line >>` prefixes, which would fill a narrow terminal.
 */
export function LogTail({ lines, height, compact = false }: { lines: readonly string[]; height: number; compact?: boolean }) {
  const theme = useTheme();
  const shown = lines.map(lastRedraw).filter((l) => l.trim() !== '').slice(-Math.max(1, height));
  if (shown.length === 0) return <Text dimColor>no output yet</Text>;
  return (
    <Box flexDirection="column">
      {shown.map((line, i) => {
        const level = classifyLogLine(line);
        const text = compact ? logMessage(line) : line;
        const mark = !theme.noColor ? '' : level === 'error' ? '✗ ' : level === 'warning' ? '! ' : '';
        return (
          <Text
            key={i}
            wrap="truncate-end"
            color={level === 'error' ? theme.error : level === 'warning' ? theme.warn : undefined}
            bold={level === 'error'}
            dimColor={level === 'progress'}
          >
            {mark}{text}
          </Text>
        );
      })}
    </Box>
  );
}
