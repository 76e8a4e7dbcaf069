/**
 * The run queue's decision: which waiting runs start now, on which devices. Pure; runtime/queue.ts gathers the
 * facts (run.json files, the GPUs) and starts what this returns.
 *
 * Rules: runs are considered in the order they were queued. A run waiting for another (`--after`) starts once that
 * one has ended, whatever its outcome, and holds nothing back. A run waiting for devices needs all of them free of
 * other medtune runs: its pinned GPUs (`--gpus`), or `count` of any free ones. A run that cannot start keeps its
 * pinned GPUs (or, unpinned, every device) from the runs queued after it, so a large run is not passed forever by
 * small ones. Without a GPU the one device is `cpu`: queued runs start one at a time.
 */

export interface WaitingRun {
  id: string;
  /** Start only after this run has ended. */
  after?: string;
  /** The GPUs it was pinned to (`--gpus`); null: any `count` free devices. */
  devices: string[] | null;
  count: number;
}

export interface QueueFacts {
  /** Every device of this machine: GPU indices, or `['cpu']` without a GPU. */
  devices: readonly string[];
  /** Devices held by medtune runs that are going now. */
  busy: ReadonlySet<string>;
  /** Runs that have ended (or no longer exist): a run waiting `after` one of them may start. */
  ended: ReadonlySet<string>;
}

export interface QueueStart {
  id: string;
  devices: string[];
}

export function planQueueStarts(waiting: readonly WaitingRun[], facts: QueueFacts): QueueStart[] {
  const taken = new Set(facts.busy);
  const held = new Set<string>();
  const starts: QueueStart[] = [];
  for (const run of waiting) {
    if (run.after !== undefined && !facts.ended.has(run.after)) continue;
    const usable = (d: string) => !taken.has(d) && !held.has(d);
    let pick: string[] | null = null;
    if (run.devices) {
      if (run.devices.every(usable)) pick = [...run.devices];
    } else {
      const free = facts.devices.filter(usable);
      if (free.length >= Math.max(1, run.count)) pick = free.slice(0, Math.max(1, run.count));
    }
    if (pick) {
      for (const d of pick) taken.add(d);
      starts.push({ id: run.id, devices: pick });
    } else {
      for (const d of run.devices ?? facts.devices) held.add(d);
    }
  }
  return starts;
}

/** The devices a going run holds: its CUDA_VISIBLE_DEVICES, else every device of the machine. */
export function devicesHeld(env: Readonly<Record<string, string>>, all: readonly string[]): string[] {
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible === undefined || all.length === 1) return [...all];
  return visible
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
}
