import { Box, Text } from 'ink';
import { allKeys, KEYMAP, SCREEN_TITLES, SCREENS, type KeyBinding, type Scope } from '../keys.js';
import { useKeys } from '../hooks/useKeys.js';
import { useTheme } from '../context.js';

export interface HelpOverlayProps {
  /** The scope of the screen under the overlay, and the actions it handles now. */
  scope: Scope;
  enabled: readonly string[];
  title: string;
  onClose: () => void;
  height: number;
}

interface Row {
  keys: string;
  help: string;
  on: boolean;
}

function rows(bindings: readonly KeyBinding[], enabled: (a: string) => boolean): Row[] {
  return bindings.map((b) => ({ keys: allKeys(b), help: b.help, on: enabled(b.action) }));
}

/** The global keys, with the six screen numbers folded into one line. */
function globalRows(): Row[] {
  const screens: Row = { keys: `1 … ${SCREENS.length}`, help: SCREENS.map((s, i) => `${i + 1} ${SCREEN_TITLES[s]}`).join(' · '), on: true };
  return [screens, ...rows(KEYMAP.global.filter((b) => !b.action.startsWith('go:')), () => true)];
}

function Lines({ items }: { items: readonly Row[] }) {
  return (
    <>
      {items.map((r) => (
        <Box key={r.keys + r.help} height={1} flexShrink={0}>
          <Box width={18} flexShrink={0}><Text bold={r.on} dimColor={!r.on}>{r.keys}</Text></Box>
          <Text dimColor={!r.on} wrap="truncate-end">{r.help}</Text>
        </Box>
      ))}
    </>
  );
}

/** Every key of the current screen (dimmed when it does nothing right now), then the global keys. */
export function HelpOverlay({ scope, enabled, title, onClose, height }: HelpOverlayProps) {
  const theme = useTheme();
  useKeys('help', { close: onClose });
  return (
    <Box flexDirection="column" flexGrow={1} borderStyle="round" borderColor={theme.accent} paddingX={1} height={height} overflow="hidden">
      <Box height={1} flexShrink={0}>
        <Text bold color={theme.accent}>Keys: {title}</Text>
        <Text dimColor>  (dim: not available right now · esc, ? or q closes)</Text>
      </Box>
      <Lines items={rows(KEYMAP[scope], (a) => enabled.includes(a))} />
      <Box height={1} flexShrink={0} marginTop={1}><Text bold color={theme.accent}>Everywhere</Text></Box>
      <Lines items={globalRows()} />
    </Box>
  );
}
