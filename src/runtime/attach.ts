/** Watching a run from files alone: poll its folder, hand each new view to the caller until it ends. */
import type { RunView } from '../core/run.js';
import { TERMINAL_STATUSES } from '../core/run.js';
import { readRunDir } from './rundir.js';

export interface WatchOptions {
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Calls `onView` about once a second; resolves with the final view when the run reaches a terminal status. */
export async function watchRun(dir: string, onView: (v: RunView) => void, opts: WatchOptions = {}): Promise<RunView> {
  const interval = opts.intervalMs ?? 1000;
  for (;;) {
    const view = await readRunDir(dir);
    onView(view);
    if ((TERMINAL_STATUSES as readonly string[]).includes(view.status) || opts.signal?.aborted) return view;
    await new Promise((r) => setTimeout(r, interval));
  }
}
