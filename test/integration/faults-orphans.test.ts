/**
 * Faults: orphans. Ctrl-C (SIGINT to the terminal's process group) in the middle of `medtune data prepare` and of
 * `medtune train`'s pre-flight, the medtune CLI itself SIGKILLed, and its Python helper SIGKILLed (a crashed
 * helper): afterwards the whole process tree that command started is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descendants, isAlive, listProcesses } from '../../src/runtime/proctree.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { BIN, DATASET, makeWorkspace, medtune, killStrayProcesses, strayProcesses, waitUntil, type TestWorkspace } from './harness.js';

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Starts the CLI in its own process group, as a shell starts a foreground job. */
function start(
  ws: Workspace,
  args: string[],
): { child: ChildProcess; exit: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, '-w', ws.root, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1' },
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout!.resume();
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal, stderr })),
  );
  return { child, exit };
}

/** Waits until the CLI has a Python helper child doing `what`, and returns the whole tree's pids. */
async function helperTree(cli: ChildProcess, what: RegExp): Promise<{ helper: number; tree: number[] }> {
  let helper = 0;
  await waitUntil(
    () => {
      const tree = descendants(cli.pid!, listProcesses());
      helper = tree.find((p) => p.pid !== cli.pid && what.test(cmdline(p.pid)))?.pid ?? 0;
      return helper !== 0;
    },
    120_000,
    `a helper matching ${what}`,
  );
  return { helper, tree: descendants(cli.pid!, listProcesses()).map((p) => p.pid) };
}

describe('faults: no process left behind', () => {
  let t: TestWorkspace;
  let scratch: string;
  beforeAll(async () => {
    t = await makeWorkspace('faults-orphans');
    scratch = await mkdtemp(join(tmpdir(), 'medtune-orphans-'));
  });
  afterAll(async () => {
    killStrayProcesses(t.ws);
    await t.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  const gone = async (pids: number[]) => {
    await waitUntil(() => pids.every((p) => !isAlive(p)), 30_000, `processes ${pids.join(', ')} to end`);
    expect(strayProcesses(t.ws)).toEqual([]);
  };

  it('Ctrl-C during `data prepare`: the helper and its workers end with the CLI', async () => {
    const ws = workspaceAt(join(scratch, 'a'));
    const { child, exit } = start(ws, ['data', 'prepare', '--source', 'sample', '--name', 'big', '--workers', '2']);
    const { tree } = await helperTree(child, /data_prepare/);
    process.kill(-child.pid!, 'SIGINT');
    const r = await exit;
    expect(r.code === 0 || r.code === 130 || r.signal === 'SIGINT' || r.code === 1).toBe(true);
    await waitUntil(() => tree.every((p) => !isAlive(p)), 30_000, 'the prepare tree to end');
  }, 300_000);

  it('the CLI SIGKILLed during `data prepare`: its helper notices and ends', async () => {
    const ws = workspaceAt(join(scratch, 'b'));
    const { child, exit } = start(ws, ['data', 'prepare', '--source', 'sample', '--name', 'big', '--workers', '2']);
    const { tree } = await helperTree(child, /data_prepare/);
    process.kill(child.pid!, 'SIGKILL');
    await exit;
    await waitUntil(() => tree.every((p) => !isAlive(p)), 60_000, 'the orphaned helper tree to end');
  }, 300_000);

  it('a crashed helper (SIGKILLed): the CLI fails with a clear message and no worker survives', async () => {
    const ws = workspaceAt(join(scratch, 'c'));
    const { child, exit } = start(ws, ['data', 'prepare', '--source', 'sample', '--name', 'big', '--workers', '2']);
    const { helper, tree } = await helperTree(child, /data_prepare/);
    process.kill(helper, 'SIGKILL');
    const r = await exit;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✗ While preparing dataset big/);
    expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    await waitUntil(() => tree.every((p) => !isAlive(p)), 60_000, 'the helper tree to end');
  }, 300_000);

  it('Ctrl-C during `train` pre-flight: the parser check ends with the CLI and no run is left half-made', async () => {
    const { child, exit } = start(t.ws, [
      'train',
      '--dataset',
      DATASET,
      '--model',
      t.modelDir,
      '--profile',
      'cpu',
      '--set',
      'max_steps=2',
      '--name',
      'ctrlc',
    ]);
    const { tree } = await helperTree(child, /check_args/);
    process.kill(-child.pid!, 'SIGINT');
    await exit;
    await gone(tree);
    // No run folder was made; the hidden scratch of the interrupted check is swept by the next `train`.
    const left = () => readdirSync(t.ws.runsDir).filter((r) => r.includes('ctrlc'));
    expect(left().filter((r) => !r.startsWith('.'))).toEqual([]);
    const again = await medtune(t.ws, [
      'train',
      '--dataset',
      DATASET,
      '--model',
      t.modelDir,
      '--profile',
      'cpu',
      '--name',
      'after',
      '--dry-run',
    ]);
    expect(again.exitCode, again.all?.slice(-1500)).toBe(0);
    expect(left()).toEqual([]);
  }, 300_000);
});
