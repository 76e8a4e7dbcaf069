import type { ReactNode } from 'react';
import { Box, Text } from 'ink';
import { useTheme } from '../context.js';

export interface SelectListProps<T> {
  items: readonly T[];
  selected: number;
  /** Rows available; the list scrolls to keep the selection in view. */
  height: number;
  renderItem: (item: T, selected: boolean) => ReactNode;
  itemKey: (item: T) => string;
  /** Whether this list has the keys (its marker is bright then). */
  focused?: boolean;
}

/** The first index of a `height`-row window that keeps `selected` in view, centred where possible. */
export function windowStart(count: number, selected: number, height: number): number {
  if (count <= height) return 0;
  return Math.max(0, Math.min(count - height, selected - Math.floor(height / 2)));
}

export function SelectList<T>({ items, selected, height, renderItem, itemKey, focused = true }: SelectListProps<T>) {
  const theme = useTheme();
  const start = windowStart(items.length, selected, Math.max(1, height));
  const shown = items.slice(start, start + Math.max(1, height));
  return (
    <Box flexDirection="column">
      {shown.map((item, i) => {
        const isSel = start + i === selected;
        return (
          <Box key={itemKey(item)} height={1} flexShrink={0}>
            <Box width={2} flexShrink={0}><Text color={isSel && focused ? theme.accent : undefined} bold={isSel}>{isSel ? (focused ? '▸' : '›') : ' '}</Text></Box>
            <Box flexGrow={1}>{renderItem(item, isSel)}</Box>
          </Box>
        );
      })}
      {items.length > shown.length ? <Text dimColor>  {start + shown.length}/{items.length}</Text> : null}
    </Box>
  );
}
