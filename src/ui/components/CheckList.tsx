import { Box, Text } from 'ink';
import type { CheckItem } from '../source.js';
import { LEVEL_MARK, levelColor } from '../theme.js';
import { useTheme } from '../context.js';

/** ✓ / ! / ✗ lines, each with its detail and, when it did not pass, what to do. */
export function CheckList({ checks, nameWidth = 18, maxRows }: { checks: readonly CheckItem[]; nameWidth?: number; maxRows?: number }) {
  const theme = useTheme();
  const rows = checks.flatMap((c) => {
    const line = (
      <Box key={c.name} height={1} flexShrink={0}>
        <Box width={2} flexShrink={0}><Text color={levelColor(theme, c.level)} bold>{LEVEL_MARK[c.level]}</Text></Box>
        <Box width={nameWidth} flexShrink={0}><Text wrap="truncate-end">{c.name}</Text></Box>
        <Text wrap="truncate-end">{c.detail}</Text>
      </Box>
    );
    return c.next && c.level !== 'ok'
      ? [line, <Box key={`${c.name}-next`} height={1} flexShrink={0}><Text color={theme.warn} wrap="truncate-end">  → {c.next}</Text></Box>]
      : [line];
  });
  return <Box flexDirection="column">{maxRows === undefined ? rows : rows.slice(0, maxRows)}</Box>;
}
