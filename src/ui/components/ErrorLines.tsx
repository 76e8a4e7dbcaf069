import { Box, Text } from 'ink';
import { formatError } from '../../core/errors.js';
import { useTheme } from '../context.js';

/** A failure the way the CLI prints it: what medtune was doing and what went wrong, then what to do next. */
export function ErrorLines({ error, maxLines = 6 }: { error: unknown; maxLines?: number }) {
  const theme = useTheme();
  const lines = formatError(error).split('\n');
  const shown = lines.length > maxLines ? [...lines.slice(0, maxLines - 1), lines[lines.length - 1]!] : lines;
  return (
    <Box flexDirection="column">
      {shown.map((l, i) => (
        <Text key={i} color={l.startsWith('✗') ? theme.error : l.startsWith('→') ? theme.warn : undefined} bold={l.startsWith('✗')} wrap="truncate-end">{l}</Text>
      ))}
    </Box>
  );
}
