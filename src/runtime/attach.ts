/** Watching a run from files alone: follow its folder, hand each new view to the caller until it ends. */
import type { RunView } from '../core/run.js';
import { ENDED_VIEW_STATUSES } from '../core/run.js';
import { followRunDir, readRunDir } from './rundir.js';
import { readManifest } from './manifest.js';
import { attemptSupervisorAlive } from './reconcile.js';

export interface WatchOptions {
  signal?: AbortSignal;
}

/**
 * Where watching ends: a terminal status, or, for a folder medtune did not launch, `ended-unknown` (its log stopped
 * and nothing writes it) and `unknown` (no log times at all: nothing will change by itself).
 */
const isTerminal = (v: RunView) => ENDED_VIEW_STATUSES.includes(v.status) || v.status === 'unknown';

/**
 * Calls `onView` as the run's files change (and about once a second); resolves with the final view, read whole
 * once more, when the run reaches a terminal status. Each file is read once by offset, so watching a 35-hour run
 * costs no more than watching a short one.
 */
export async function watchRun(dir: string, onView: (v: RunView) => void, opts: WatchOptions = {}): Promise<RunView> {
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  // An attempt that failed is not the end while its supervisor lives: it may start another (a launch retry, an
  // automatic resume), and the run's end is that one's.
  const endIfOver = (v: RunView) => {
    if (!isTerminal(v)) return;
    void readManifest(dir)
      .then((m) => !m || !attemptSupervisorAlive(m))
      .catch(() => true)
      .then((over) => over && done());
  };
  const follower = await followRunDir(dir, (v) => {
    onView(v);
    endIfOver(v);
  });
  opts.signal?.addEventListener('abort', () => done(), { once: true });
  if (follower.view) endIfOver(follower.view);
  await ended;
  await follower.close();
  const final = await readRunDir(dir);
  onView(final);
  return final;
}
