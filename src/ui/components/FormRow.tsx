import { Box, Text } from 'ink';
import { meter } from '../../core/chart.js';
import { useTheme } from '../context.js';

export interface FormRowProps {
  label: string;
  value: string;
  /** A choice shows ‹ › around its value: ← → change it. */
  choice?: boolean;
  focused: boolean;
  editing: boolean;
  error?: string;
  /** Shown when there is no error and the row has focus. */
  help?: string;
  labelWidth?: number;
  valueWidth?: number;
}

/** One form line: label, value (with a cursor while typed into), then the error or the help text. */
export function FormRow({ label, value, choice, focused, editing, error, help, labelWidth = 18, valueWidth = 22 }: FormRowProps) {
  const theme = useTheme();
  const shown = choice ? `‹ ${value} ›` : editing ? `${value}▏` : value === '' ? '–' : value;
  return (
    <Box height={1} flexShrink={0}>
      <Box width={2} flexShrink={0}><Text color={focused ? theme.accent : undefined} bold={focused}>{focused ? '▸' : ' '}</Text></Box>
      <Box width={labelWidth} flexShrink={0}><Text bold={focused} wrap="truncate-end">{label}</Text></Box>
      <Box width={valueWidth} flexShrink={0}>
        <Text inverse={editing} color={error ? theme.error : undefined} underline={focused && !editing && !choice && theme.noColor} wrap={choice ? 'truncate-end' : 'truncate-start'}>{shown}</Text>
      </Box>
      <Text> </Text>
      {error
        ? <Text color={theme.error} wrap="truncate-end">{theme.noColor ? `✗ ${error}` : error}</Text>
        : focused && help ? <Text dimColor wrap="truncate-end">{help}</Text> : null}
    </Box>
  );
}

/** Where a long task stands: label, phase, bar, counts and message. */
export function TaskLine({ label, phase, done, total, message, width }: { label: string; phase?: string; done: number; total: number | null; message?: string; width: number }) {
  const theme = useTheme();
  const barW = Math.max(8, Math.min(24, width - 56));
  const frac = total ? Math.min(1, done / total) : 0;
  const counts = ` ${total ? `${Math.floor(frac * 100)}% ${done}/${total}` : done ? String(done) : '…'}`;
  const head = phase ? `${label} · ${phase}` : label;
  // The bar and the counts always show; the label and phase get what is left, then the message.
  const free = Math.max(8, width - 2 - 1 - barW - counts.length);
  const headW = Math.min([...head].length, free);
  const messageW = free - headW - 1;
  return (
    <Box height={1} flexShrink={0}>
      <Box width={2} flexShrink={0}><Text color={theme.accent}>⟳</Text></Box>
      <Box width={headW} flexShrink={0}><Text bold wrap="truncate-middle">{head}</Text></Box>
      <Box flexShrink={0} marginLeft={1}>
        <Text color={theme.accent}>{meter(frac, barW)}</Text>
        <Text>{counts}</Text>
      </Box>
      {message && messageW > 3 ? <Box width={messageW + 1} flexShrink={0}><Text dimColor wrap="truncate-end"> {message}</Text></Box> : null}
    </Box>
  );
}
