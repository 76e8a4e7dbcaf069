import type { ReactNode } from 'react';
import { Box, Text } from 'ink';
import { useTheme } from '../context.js';

export interface SectionProps {
  title: string;
  /** Dim text after the title (a count, a hint). */
  right?: string;
  children?: ReactNode;
  width?: number | string;
  height?: number;
  flexGrow?: number;
  flexShrink?: number;
  flexBasis?: number | string;
}

/** A titled block: one heading line with a rule, then the content. Cheaper in rows than a bordered box. */
export function Section({ title, right, children, ...box }: SectionProps) {
  const theme = useTheme();
  return (
    <Box flexDirection="column" overflow="hidden" {...box}>
      <Box height={1} flexShrink={0}>
        <Text bold color={theme.accent} wrap="truncate-end">{title}</Text>
        {right ? <Text dimColor wrap="truncate-end"> {right}</Text> : null}
        <Text> </Text>
        <Box flexGrow={1} height={1} borderStyle="single" borderTop={false} borderLeft={false} borderRight={false} borderDimColor />
      </Box>
      {children}
    </Box>
  );
}
