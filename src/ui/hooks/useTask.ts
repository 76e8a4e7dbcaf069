import { useCallback, useSyncExternalStore } from 'react';
import { useUi } from '../context.js';
import type { StartOptions, TaskKind, TaskResults, TaskState } from '../tasks.js';
import type { OnProgress } from '../source.js';

export interface TaskHandle<K extends TaskKind> {
  state: TaskState<TaskResults[K]> | undefined;
  running: boolean;
  start: (
    label: string,
    work: (onProgress: OnProgress, signal: AbortSignal) => Promise<TaskResults[K]>,
    opts?: StartOptions<TaskResults[K]>,
  ) => boolean;
  cancel: () => void;
  clear: () => void;
}

/** One kind of long action from the app's task store, with its live progress. */
export function useTask<K extends TaskKind>(kind: K): TaskHandle<K> {
  const { tasks } = useUi();
  const state = useSyncExternalStore(tasks.subscribe, () => tasks.get(kind));
  const start = useCallback<TaskHandle<K>['start']>((label, work, opts) => tasks.start(kind, label, work, opts), [tasks, kind]);
  const cancel = useCallback(() => tasks.cancel(kind), [tasks, kind]);
  const clear = useCallback(() => tasks.clear(kind), [tasks, kind]);
  return { state, running: state?.status === 'running', start, cancel, clear };
}
