import { Box, Text } from 'ink';
import { SCREENS, SCREEN_TITLES, type ScreenId } from '../keys.js';
import { useTheme } from '../context.js';

/** The top line: the screens with their number keys, the current one highlighted, and the workspace. */
export function TabBar({ current, workspace }: { current: ScreenId; workspace: string }) {
  const theme = useTheme();
  return (
    <Box height={1} overflow="hidden">
      <Text bold color={theme.accent}>medtune </Text>
      {SCREENS.map((s, i) => (
        <Text key={s} inverse={s === current} bold={s === current}>{` ${i + 1} ${SCREEN_TITLES[s]} `}</Text>
      ))}
      <Box flexGrow={1} justifyContent="flex-end" overflow="hidden">
        <Text dimColor wrap="truncate-start">{workspace}</Text>
      </Box>
    </Box>
  );
}
