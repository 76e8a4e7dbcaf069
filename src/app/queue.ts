/** The queue's use cases: start what may start, queue a planned run, and where each waiting run stands. */
import { basename } from 'node:path';
import { resolveRunDir } from '../runtime/manifest.js';
import { queuedRuns, startQueuedRuns } from '../runtime/queue.js';
import type { RunPlan, TrainRequest } from '../core/runplan.js';
import type { LaunchQueueOptions } from '../runtime/launch.js';
import type { App } from './context.js';

/** Starts every queued run whose turn has come (every command calls this first; so does each supervisor as its run ends). */
export async function startQueued(app: App): Promise<string[]> {
  return startQueuedRuns(app.ws, { venv: () => app.venv(), gpuIndices: async () => (await app.gpus()).map((g) => String(g.index)) });
}

/** What a queued run records: the run it waits for, and the GPUs it needs (pinned by --gpus, or a count). */
export async function queueEntry(
  app: App,
  request: TrainRequest,
  plan: RunPlan,
  q: { after?: string; sweep?: string },
): Promise<LaunchQueueOptions> {
  const gpus = await app.gpus();
  const after = q.after === undefined ? undefined : basename(await resolveRunDir(app.ws, q.after));
  return {
    queue: {
      queuedAt: new Date().toISOString(),
      ...(after ? { after } : {}),
      devices: request.gpus
        ? request.gpus
            .split(',')
            .map((d) => d.trim())
            .filter(Boolean)
        : null,
      count: gpus.length ? Math.max(1, plan.distributed.nprocPerNode) : 1,
    },
    ...(q.sweep ? { sweep: q.sweep } : {}),
  };
}

/** Where each waiting run stands: its place in the queue (1 = next) and what it waits for. */
export interface QueuePlace {
  position: number;
  after?: string;
  devices: string[] | null;
  sweep?: string;
}

export async function queuePlaces(app: App): Promise<Map<string, QueuePlace>> {
  const waiting = await queuedRuns(app.ws);
  return new Map(
    waiting.map((m, i) => [
      m.id,
      {
        position: i + 1,
        ...(m.queue?.after ? { after: m.queue.after } : {}),
        devices: m.queue?.devices ?? null,
        ...(m.sweep ? { sweep: m.sweep } : {}),
      },
    ]),
  );
}
