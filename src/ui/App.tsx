import { useLayoutEffect, useMemo, useReducer, useState, type ReactElement } from 'react';
import { Box, Text, useApp, useInput } from 'ink';
import { UiContext, AppStateContext, type UiEnv } from './context.js';
import { appReducer, initialState } from './state.js';
import { KeyRouter, type KeySnapshot } from './keyrouter.js';
import { SCREEN_TITLES, SCREENS, type ScreenId } from './keys.js';
import { TaskStore } from './tasks.js';
import { useTerminalSize } from './hooks/useTerminalSize.js';
import { TabBar } from './components/TabBar.js';
import { KeyBar } from './components/KeyBar.js';
import { HelpOverlay } from './components/HelpOverlay.js';
import { COLOR_THEME, type Theme } from './theme.js';
import type { WorkspaceSource } from './source.js';
import type { GpuMonitorOptions, GpuMonitorState } from '../runtime/gpu-monitor.js';
import { GpuProvider } from './gpu-context.js';
import type { ScreenProps } from './screens/types.js';
import { HomeScreen } from './screens/HomeScreen.js';
import { DataScreen } from './screens/DataScreen.js';
import { TrainScreen } from './screens/TrainScreen.js';
import { MonitorScreen } from './screens/MonitorScreen.js';
import { ExportScreen } from './screens/ExportScreen.js';
import { CompareScreen } from './screens/CompareScreen.js';
import { AskScreen } from './ask/AskScreen.js';
import { GpusScreen } from './screens/GpusScreen.js';

export interface AppProps {
  source: WorkspaceSource;
  theme?: Theme;
  initialScreen?: ScreenId;
  /** Poll period for changing reads, ms (default 1000). */
  pollMs?: number;
  /** Task progress notification period, ms (default 100). */
  flushMs?: number;
  /** A fixed GPU state (tests); by default one live monitor runs for the whole app. */
  gpu?: GpuMonitorState;
  gpuOptions?: GpuMonitorOptions;
}

const SCREEN_COMPONENTS: Record<ScreenId, (p: ScreenProps) => ReactElement> = {
  home: HomeScreen,
  data: DataScreen,
  train: TrainScreen,
  monitor: MonitorScreen,
  export: ExportScreen,
  compare: CompareScreen,
  ask: AskScreen,
  gpu: GpusScreen,
};

/** Reads every key press once and hands it to the router; any key dismisses the notice line. */
function KeyInput({ router, onKey }: { router: KeyRouter; onKey: () => void }) {
  useInput((input, key) => {
    onKey();
    router.dispatch(input, key);
  });
  return null;
}

/** The whole TUI: tab bar, the current screen, a notice line, the key bar, and the `?` overlay. */
export function App({ source, theme = COLOR_THEME, initialScreen = 'home', pollMs = 1000, flushMs = 100, gpu, gpuOptions }: AppProps) {
  const { exit } = useApp();
  const { columns, rows } = useTerminalSize();
  const [state, dispatch] = useReducer(appReducer, initialScreen, initialState);
  const [help, setHelp] = useState<KeySnapshot | null>(null);
  const env = useMemo<UiEnv>(() => ({ source, theme, pollMs, tasks: new TaskStore(flushMs), router: new KeyRouter(), cache: new Map() }), [source, theme, pollMs, flushMs]);
  const store = useMemo(() => ({ state, dispatch }), [state]);

  const canGoBack = state.history.length > 0;
  useLayoutEffect(() => {
    env.router.setGlobal({
      quit: () => {
        env.tasks.dispose();
        env.router.dispose();
        exit();
      },
      help: () => setHelp(env.router.getSnapshot()),
      back: canGoBack ? () => dispatch({ type: 'back' }) : null,
      ...Object.fromEntries(SCREENS.map((s) => [`go:${s}`, () => dispatch({ type: 'go', screen: s })])),
    });
  }, [env, exit, canGoBack]);

  // Ink redraws the whole screen when a frame fills every row, so the frame stays one row short.
  const height = Math.max(10, rows - 1);
  const noticeH = state.notice ? 1 : 0;
  const bodyH = height - 2 - noticeH;
  const Screen = SCREEN_COMPONENTS[state.screen];
  const noticeColor = state.notice?.level === 'error' ? theme.error : state.notice?.level === 'warn' ? theme.warn : theme.ok;

  return (
    <UiContext.Provider value={env}>
      <AppStateContext.Provider value={store}>
        <GpuProvider state={gpu} options={gpuOptions}>
          <KeyInput router={env.router} onKey={() => state.notice && dispatch({ type: 'notice', notice: null })} />
          <Box flexDirection="column" width={columns} height={height}>
            <TabBar current={state.screen} workspace={source.info().name} />
            <Box height={bodyH} overflow="hidden">
              {/* The screen stays mounted under the overlay so its state (focus, typed values) survives. */}
              <Box display={help ? 'none' : 'flex'}><Screen width={columns} height={bodyH} /></Box>
              {help ? <HelpOverlay scope={help.scope} enabled={help.enabled} title={SCREEN_TITLES[state.screen]} height={bodyH} onClose={() => setHelp(null)} /> : null}
            </Box>
            {state.notice ? <Box height={1} flexShrink={0}><Text color={noticeColor} wrap="truncate-end">{state.notice.text}</Text></Box> : null}
            <KeyBar />
          </Box>
        </GpuProvider>
      </AppStateContext.Provider>
    </UiContext.Provider>
  );
}
