/**
 * RunTree on real processes: a child in a session of its own (as torchrun starts each rank) is missed by a signal
 * to the launcher's process group and, once the launcher is dead, is no longer its descendant; RunTree still ends it.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { descendants, isAlive, RunTree, signalGroup } from '../../src/runtime/proctree.js';
import { waitUntil } from './harness.js';

const started: number[] = [];

afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** sh (the launcher, its own group) → setsid sleep (a "rank" in its own session) + sleep (same group). */
async function launcherWithRank(): Promise<{ root: number; rank: number; sibling: number }> {
  const child = spawn('sh', ['-c', 'setsid sleep 300 & sleep 300 & wait'], { detached: true, stdio: 'ignore' });
  child.unref();
  const root = child.pid!;
  started.push(root);
  let kids: number[] = [];
  // Both children, and the "rank" already in its own session (setsid runs just after the fork).
  await waitUntil(
    () => {
      const procs = descendants(root).filter((p) => p.pid !== root);
      kids = procs.map((p) => p.pid);
      return procs.length === 2 && procs.some((p) => p.pgid !== root);
    },
    10_000,
    'both children',
  );
  const procs = descendants(root);
  const rank = procs.find((p) => p.pid !== root && p.pgid !== root)!.pid;
  const sibling = procs.find((p) => p.pid !== root && p.pgid === root)!.pid;
  started.push(...kids);
  return { root, rank, sibling };
}

describe('RunTree', () => {
  it('a process-group signal misses a rank in its own session', async () => {
    const { root, rank, sibling } = await launcherWithRank();
    signalGroup(root, 'SIGKILL');
    await waitUntil(() => !isAlive(root) && !isAlive(sibling), 10_000, 'the group to die');
    expect(isAlive(rank)).toBe(true);
    // The dead launcher may linger as a zombie until Node reaps it; the rank is no longer under it.
    expect(descendants(root).filter((p) => isAlive(p.pid))).toEqual([]);
  });

  it('ends every process it has seen, the reparented rank included, leaves first', async () => {
    const { root, rank, sibling } = await launcherWithRank();
    const tree = new RunTree(root);
    expect(
      tree
        .leaves()
        .map((p) => p.pid)
        .sort(),
    ).toEqual([rank, sibling].sort());
    expect(
      tree
        .alive()
        .map((p) => p.pid)
        .at(-1),
    ).toBe(root);
    // The launcher dies first (as when torchrun's parent is killed): the rank is orphaned.
    process.kill(root, 'SIGKILL');
    await waitUntil(() => !isAlive(root), 10_000, 'the launcher to die');
    expect(tree.gone()).toBe(false);
    tree.signal('SIGKILL');
    await waitUntil(() => tree.gone(), 10_000, 'every process of the run to end');
    expect(isAlive(rank)).toBe(false);
    expect(isAlive(sibling)).toBe(false);
  });
});
