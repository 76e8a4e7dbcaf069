/** A queued run's state in run.json: waiting, or taken off the queue (`stop`). The queue's starter is runtime/queue.ts. */
import type { RunManifest } from '../core/run.js';
import { updateManifest } from './manifest.js';

/** A run waiting in the queue: `queued` with its queue entry (a launch or a resume in flight has none). */
export function isWaiting(m: RunManifest): boolean {
  return m.status === 'queued' && !!m.queue;
}

/** Takes a waiting run off the queue (status `cancelled`); undefined when it is not waiting (any more). */
export async function cancelQueued(dir: string): Promise<RunManifest | undefined> {
  let done = false;
  const m = await updateManifest(dir, (cur) => {
    if (!isWaiting(cur)) return;
    cur.status = 'cancelled';
    delete cur.queue;
    cur.cause = {
      code: 'CANCELLED',
      summary: 'taken off the queue before it started',
      next: 'queue it again with `medtune train … --queue`',
    };
    done = true;
  });
  return done ? m : undefined;
}
