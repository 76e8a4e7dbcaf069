/**
 * Two `train` commands started in the same second plan the same run id (ids are timestamps). The run folder is
 * claimed by renaming a private pending folder onto runs/<id>, which fails when the id is taken; the loser moves
 * its plan to the next free id and tries again, so both runs get their own folder.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunPlan } from '../core/runplan.js';
import { isAlive } from './proctree.js';

/** The same plan under another id: every path under runs/<old id> now points under runs/<new id>. */
export function rebasePlan(plan: RunPlan, newId: string): RunPlan {
  const swap = (s: string) => s.split(plan.id).join(newId);
  return {
    ...plan,
    id: newId,
    yaml: swap(plan.yaml),
    command: plan.command.map(swap),
    env: Object.fromEntries(Object.entries(plan.env).map(([k, v]) => [k, swap(v)])),
    commandLine: swap(plan.commandLine),
    outputDir: swap(plan.outputDir),
    config: JSON.parse(swap(JSON.stringify(plan.config))) as RunPlan['config'],
  };
}

/**
 * Renames `pending` to runs/<id>, moving to `<id>-2`, `<id>-3`… while the id is taken. `rewrite` writes the
 * pending folder's files for a rebased plan before the next try. Returns the plan the folder was claimed with.
 */
export async function claimRunDir(
  runsDir: string,
  pending: string,
  plan: RunPlan,
  rewrite: (p: RunPlan) => Promise<void>,
): Promise<RunPlan> {
  const base = plan.id;
  let current = plan;
  for (let i = 2; i < 1000; i++) {
    try {
      await rename(pending, join(runsDir, current.id));
      return current;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') {
        await rm(pending, { recursive: true, force: true });
        throw err;
      }
      current = rebasePlan(current, `${base}-${i}`);
      await rewrite(current);
    }
  }
  await rm(pending, { recursive: true, force: true });
  throw new Error(`no free run id after ${base}-999`);
}

/**
 * Removes the scratch folders (`.check-<id>-<pid>`, `.pending-<id>-<pid>`) of medtune processes that are gone: a
 * `train` interrupted by Ctrl-C (or killed) during its pre-flight or launch leaves them behind.
 */
export async function sweepStaleScratch(runsDir: string): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(runsDir).catch(() => [] as string[]);
  for (const e of entries) {
    const m = /^\.(?:check|pending)-.+-(\d+)$/.exec(e);
    if (!m || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue;
    await rm(join(runsDir, e), { recursive: true, force: true });
    removed.push(e);
  }
  return removed;
}
