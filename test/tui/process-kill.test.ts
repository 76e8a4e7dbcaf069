/**
 * The real source behind the GPU screen's process table: which live processes belong to a going run (the whole
 * tree under its trainer, not a pid that merely reuses a recorded number), who runs them, and a kill that only
 * reaches a run's own process. The "trainer" is a real shell with a real child; run.json is written as the
 * supervisor writes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunManifest } from '../../src/core/run.js';
import { descendants } from '../../src/runtime/proctree.js';
import { currentBootId, procIdentity } from '../../src/runtime/reconcile.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { createRuntimeSource } from '../../src/ui/runtime-source.js';
import type { WorkspaceSource } from '../../src/ui/source.js';

let root: string;
let ws: Workspace;
let source: WorkspaceSource;
const children: ChildProcess[] = [];

/** A shell standing in for a trainer, with a loader-worker-like child of its own. */
async function trainer(): Promise<{ shell: ChildProcess; worker: number }> {
  const shell = spawn('sh', ['-c', 'sleep 120 & wait'], { stdio: 'ignore' });
  children.push(shell);
  for (let i = 0; i < 200; i++) {
    const worker = descendants(shell.pid!).find((p) => p.pid !== shell.pid);
    if (worker) return { shell, worker: worker.pid };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the shell started no child');
}

async function addRun(id: string, status: RunManifest['status'], pid: number, startTicks: number | undefined): Promise<void> {
  const dir = join(ws.runsDir, id);
  await mkdir(join(dir, 'output'), { recursive: true });
  const manifest: RunManifest = {
    id,
    createdAt: '2026-12-08T02:00:00Z',
    updatedAt: '2026-12-08T02:00:00Z',
    status,
    model: join(ws.modelsDir, 'tiny'),
    datasets: ['demo'],
    profile: 'cpu',
    outputDir: join(dir, 'output'),
    trainYaml: join(dir, 'train.yaml'),
    command: ['llamafactory-cli', 'train'],
    env: {},
    cwd: ws.root,
    attempts: [
      {
        n: 1,
        startedAt: '2026-12-08T02:00:00Z',
        pid,
        ...(startTicks !== undefined ? { pidStartTicks: startTicks } : {}),
        bootId: currentBootId(),
      },
    ],
    autoResume: 0,
  };
  await writeFile(join(dir, 'run.json'), JSON.stringify(manifest));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'medtune-kill-'));
  ws = workspaceAt(root);
  source = createRuntimeSource(ws);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await source.close();
  await rm(root, { recursive: true, force: true });
});

it("names the run, user and command of every process in a going run's tree, and kills only those", async () => {
  const going = await trainer();
  const reused = await trainer();
  const ended = await trainer();
  await addRun('20261208-020000-going', 'training', going.shell.pid!, procIdentity(going.shell.pid)?.startTicks);
  // A run.json whose trainer pid is now another process (start time differs): not the run's.
  await addRun('20261208-010000-reused', 'training', reused.shell.pid!, (procIdentity(reused.shell.pid)?.startTicks ?? 0) - 1);
  await addRun('20261208-000000-ended', 'completed', ended.shell.pid!, procIdentity(ended.shell.pid)?.startTicks);

  const pids = [going.shell.pid!, going.worker, reused.worker, ended.worker, process.pid];
  const infos = await source.describeProcesses(pids);
  expect(infos.map((i) => i.runId)).toEqual(['20261208-020000-going', '20261208-020000-going', null, null, null]);
  for (const i of infos) expect(i.user).toBe(userInfo().username);
  expect(infos[1]!.command).toBe('sleep 120');

  // Anything outside a going run's tree is refused, and stays alive.
  for (const pid of [process.pid, reused.worker, ended.shell.pid!]) {
    await expect(source.killProcess(pid, 'SIGTERM')).rejects.toMatchObject({ code: 'NOT_RUN_PROCESS' });
  }
  expect(reused.shell.exitCode).toBeNull();

  // The worker of the going run: killed, and its parent sees it end.
  await expect(source.killProcess(going.worker, 'SIGKILL')).resolves.toEqual({ runId: '20261208-020000-going' });
  await new Promise<void>((resolve) => going.shell.once('exit', () => resolve()));
  await expect(source.killProcess(going.worker, 'SIGTERM')).rejects.toMatchObject({ code: 'NO_PROCESS' });
});

it('a pid that is not visible here has no user, command or run', async () => {
  const [info] = await source.describeProcesses([2 ** 22 + 17]);
  expect(info).toEqual({ pid: 2 ** 22 + 17, user: null, command: null, runId: null });
});
