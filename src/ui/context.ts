/** What every component may reach: the source, the theme, the task store, the poll rate, the key router. */
import { createContext, useContext, type Dispatch } from 'react';
import type { WorkspaceSource } from './source.js';
import type { Theme } from './theme.js';
import type { TaskStore } from './tasks.js';
import type { KeyRouter } from './keyrouter.js';
import type { AppAction, AppState } from './state.js';

export interface UiEnv {
  source: WorkspaceSource;
  theme: Theme;
  tasks: TaskStore;
  router: KeyRouter;
  /** How often changing reads (runs, logs) are polled, in ms. */
  pollMs: number;
  /** The last answer of each poll, by name and key (see usePoll). */
  cache: Map<string, unknown>;
}

export const UiContext = createContext<UiEnv | null>(null);

export function useUi(): UiEnv {
  const env = useContext(UiContext);
  if (!env) throw new Error('useUi() outside <App>: wrap the component in UiContext.Provider');
  return env;
}

export const useTheme = (): Theme => useUi().theme;
export const useSource = (): WorkspaceSource => useUi().source;

export interface AppStore {
  state: AppState;
  dispatch: Dispatch<AppAction>;
}

export const AppStateContext = createContext<AppStore | null>(null);

export function useAppState(): AppStore {
  const store = useContext(AppStateContext);
  if (!store) throw new Error('useAppState() outside <App>');
  return store;
}
