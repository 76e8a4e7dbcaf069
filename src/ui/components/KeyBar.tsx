import { Box, Text } from 'ink';
import { barKeys, KEYMAP, type KeyBinding } from '../keys.js';
import { useKeySnapshot } from '../hooks/useKeys.js';
import { useTheme } from '../context.js';
import { useTerminalSize } from '../hooks/useTerminalSize.js';

const GLOBAL_IN_BAR = ['back', 'help', 'quit'];

/** The keys that work right now, from the key map: the screen's first, then back / help / quit. */
export function barBindings(scope: keyof typeof KEYMAP, enabled: readonly string[], globalEnabled: readonly string[], modal: boolean): KeyBinding[] {
  const works = (b: KeyBinding) => enabled.includes(b.action) || KEYMAP[scope].some((p) => p.pairOf === b.action && enabled.includes(p.action));
  const local = KEYMAP[scope].filter((b) => b.bar !== false && works(b));
  const localKeys = new Set(local.flatMap((b) => b.keys));
  const global = modal ? [] : KEYMAP.global.filter((b) => GLOBAL_IN_BAR.includes(b.action) && globalEnabled.includes(b.action) && !b.keys.some((k) => localKeys.has(k)));
  return [...local, ...global];
}

/** Drops `esc back` first when the bar would not fit: help and quit stay, and back is in the help. */
export function fitBar(bindings: KeyBinding[], columns: number): KeyBinding[] {
  const width = (bs: KeyBinding[]) => bs.reduce((n, b) => n + 2 + [...barKeys(b)].length + 1 + [...b.label].length, 0);
  return width(bindings) <= columns ? bindings : bindings.filter((b) => b.action !== 'back');
}

export function KeyBar() {
  const theme = useTheme();
  const snap = useKeySnapshot();
  const { columns } = useTerminalSize();
  const bindings = fitBar(barBindings(snap.scope, snap.enabled, snap.globalEnabled, snap.modal), columns);
  return (
    <Box height={1} overflow="hidden">
      <Text wrap="truncate-end">
        {bindings.map((b, i) => (
          <Text key={b.action}>
            {i > 0 ? '  ' : ' '}
            <Text bold color={theme.accent} inverse={theme.noColor}>{barKeys(b)}</Text>
            <Text> {b.label}</Text>
          </Text>
        ))}
      </Text>
    </Box>
  );
}
