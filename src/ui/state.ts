/** Navigation and the choices that travel between screens (the dataset mix, the train form, the run in view). */
import type { DatasetWeight } from '../core/mix.js';
import type { ScreenId } from './keys.js';

export interface TrainDraft {
  model: string | null;
  profile: string | null;
  datasets: DatasetWeight[];
  /** The GPUs chosen (`--gpus`, CUDA_VISIBLE_DEVICES); undefined: every GPU of the host. */
  gpus?: string;
  /** What the user typed, by LLaMA-Factory key; fields not here show the profile's value or the default. */
  texts: Record<string, string>;
}

export interface Notice {
  level: 'info' | 'warn' | 'error';
  text: string;
}

export interface AppState {
  screen: ScreenId;
  history: ScreenId[];
  /** The run the monitor shows; null = the run list. */
  runId: string | null;
  /** The run the Export screen starts on. */
  exportRunId: string | null;
  draft: TrainDraft;
  notice: Notice | null;
}

export type AppAction =
  | { type: 'go'; screen: ScreenId }
  | { type: 'back' }
  | { type: 'openRun'; id: string | null }
  | { type: 'exportRun'; id: string }
  | { type: 'useMix'; datasets: DatasetWeight[] }
  | { type: 'draft'; patch: Partial<TrainDraft> }
  | { type: 'draftText'; key: string; update: (old: string | undefined) => string }
  | { type: 'draftReset' }
  | { type: 'notice'; notice: Notice | null };

export function initialState(screen: ScreenId = 'home'): AppState {
  return {
    screen,
    history: [],
    runId: null,
    exportRunId: null,
    draft: { model: null, profile: null, datasets: [], texts: {} },
    notice: null,
  };
}

function go(s: AppState, screen: ScreenId): AppState {
  if (s.screen === screen) return s;
  return { ...s, screen, history: [...s.history, s.screen].slice(-20) };
}

export function appReducer(s: AppState, a: AppAction): AppState {
  switch (a.type) {
    case 'go':
      return go(s, a.screen);
    case 'back': {
      const prev = s.history[s.history.length - 1];
      return prev ? { ...s, screen: prev, history: s.history.slice(0, -1) } : s;
    }
    case 'openRun':
      return a.id === null ? { ...s, runId: null } : { ...go(s, 'monitor'), runId: a.id };
    case 'exportRun':
      return { ...go(s, 'export'), exportRunId: a.id };
    case 'useMix':
      return { ...go(s, 'train'), draft: { ...s.draft, datasets: a.datasets } };
    case 'draft':
      return { ...s, draft: { ...s.draft, ...a.patch } };
    case 'draftText':
      return { ...s, draft: { ...s.draft, texts: { ...s.draft.texts, [a.key]: a.update(s.draft.texts[a.key]) } } };
    case 'draftReset':
      return { ...s, draft: { ...s.draft, texts: {} } };
    case 'notice':
      return { ...s, notice: a.notice };
  }
}
