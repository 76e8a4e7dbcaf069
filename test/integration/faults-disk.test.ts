/**
 * Faults: the disk fills during a run. The workspace lives on a 1 GiB tmpfs mounted for the test; once the real
 * llamafactory-cli has written checkpoint-30, a file fills the disk to 40 MiB free. The supervisor's disk watch
 * stops the run before the next torch.save (which would die with "unexpected pos"), records DISK_LOW, `resume`
 * refuses while the disk is full and finishes the run once space is freed; export and data prepare refuse to
 * start without room and leave nothing behind.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resumableCheckpoint } from '../../src/runtime/checkpoints.js';
import { prepareDataset } from '../../src/runtime/datasets.js';
import { buildTinyModel } from '../../src/runtime/models.js';
import { requireVenv } from '../../src/runtime/venv.js';
import { workspaceAt, type Workspace } from '../../src/runtime/workspace.js';
import { DATASET, lastJson, medtune, killStrayProcesses, strayProcesses, waitUntil } from './harness.js';

interface Status {
  id: string;
  status: string;
  step: number;
  checkpoints: number[];
  attempts: number;
  cause: { code: string; summary: string; next: string } | null;
}

const MiB = 2 ** 20;

describe('faults: the disk fills during a run', () => {
  let mount = '';
  let mounted = false;
  let skipReason = '';
  let ws: Workspace;
  let modelDir = '';
  const filler = () => join(mount, 'filler.bin');

  beforeAll(async () => {
    mount = mkdtempSync(join(tmpdir(), 'medtune-diskfull-'));
    const r = await execa('mount', ['-t', 'tmpfs', '-o', 'size=1024m', 'tmpfs', mount], { reject: false });
    if (r.exitCode !== 0) {
      skipReason = `cannot mount a size-limited tmpfs here (${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}); this test needs root or CAP_SYS_ADMIN`;
      return;
    }
    mounted = true;
    ws = workspaceAt(mount);
    const venv = await requireVenv();
    await prepareDataset(ws, venv, { source: 'sample', name: DATASET, valRatio: 0.2, minFreeGib: 0 });
    modelDir = (await buildTinyModel(ws, venv)).dir;
  });
  afterEach(() => {
    if (mounted) expect(strayProcesses(ws)).toEqual([]);
  });
  afterAll(async () => {
    if (mounted) {
      killStrayProcesses(ws);
      await execa('umount', [mount], { reject: false });
    }
    rmSync(mount, { recursive: true, force: true });
  });

  /** Fills the filesystem until `leave` bytes are free. */
  const fill = async (leave: number) => {
    const fs = statfsSync(mount);
    await execa('fallocate', ['-l', String(fs.bavail * fs.bsize - leave), filler()]);
  };
  const status = async (id: string): Promise<Status> => lastJson<Status>((await medtune(ws, ['status', id, '--json'])).stdout);

  it('stops the run before the next checkpoint would fail, records DISK_LOW, and resume works once space is freed', async (ctx) => {
    if (!mounted) return ctx.skip(skipReason);
    const started = await medtune(ws, [
      'train',
      '--dataset',
      DATASET,
      '--model',
      modelDir,
      '--profile',
      'cpu',
      '--set',
      'max_steps=90',
      '--set',
      'save_steps=30',
      '--set',
      'logging_steps=1',
      '--set',
      'save_total_limit=2',
      '--name',
      'disk',
      '--detach',
      '--json',
    ]);
    expect(started.exitCode, started.all?.slice(-2000)).toBe(0);
    const id = lastJson<{ id: string }>(started.stdout).id;
    const out = join(ws.runsDir, id, 'output');
    await waitUntil(() => existsSync(join(out, 'checkpoint-30', 'trainer_state.json')), 600_000, 'checkpoint-30');
    await fill(40 * MiB);

    await waitUntil(async () => (await status(id)).status === 'stopped', 120_000, 'the disk watch to stop the run');
    const s = await status(id);
    expect(s.cause?.code).toBe('DISK_LOW');
    expect(s.cause?.summary).toMatch(/free .* the next save needs/);
    expect(s.cause?.next).toMatch(new RegExp(`medtune resume ${id}`));
    expect(s.step).toBeLessThan(90);
    expect(readFileSync(join(ws.runsDir, id, 'stderr.log'), 'utf8')).not.toMatch(/unexpected pos|No space left/);
    // Every checkpoint on disk is whole: the run stopped between saves, not inside one.
    const choice = await resumableCheckpoint(out);
    expect(choice.skipped).toEqual([]);
    expect(choice.path).toBe(join(out, `checkpoint-${Math.max(...s.checkpoints)}`));

    const refused = await medtune(ws, ['resume', id]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/DISK|free/);
    expect(refused.stderr).toMatch(/free disk/);
    expect((await status(id)).status).toBe('stopped');

    rmSync(filler());
    const resumed = await medtune(ws, ['resume', id, '--json'], { timeout: 600_000 });
    expect(resumed.exitCode, resumed.all?.slice(-2000)).toBe(0);
    const done = await status(id);
    expect(done.status).toBe('completed');
    expect(done.step).toBe(90);
    expect(done.cause).toBeNull();
  }, 1_200_000);

  it('export and data prepare refuse to start without room and leave nothing behind', async (ctx) => {
    if (!mounted) return ctx.skip(skipReason);
    const runs = lastJson<Status[]>((await medtune(ws, ['runs', '--json'])).stdout);
    const id = runs[0]!.id;
    const info = readFileSync(ws.datasetInfo, 'utf8');
    await fill(8 * MiB);
    try {
      const ex = await medtune(ws, ['export', id, '--name', 'full']);
      expect(ex.exitCode).toBe(1);
      expect(ex.stderr).toMatch(/only .* is free/);
      expect(ex.stderr).not.toMatch(/^\s+at /m);
      expect(existsSync(ws.exportsDir) ? readdirSync(ws.exportsDir) : []).toEqual([]);

      const dp = await medtune(ws, ['data', 'prepare', '--source', 'sample', '--name', 'second']);
      expect(dp.exitCode).toBe(1);
      expect(dp.stderr).toMatch(/only .* is free/);
      expect(existsSync(join(ws.dataDir, 'second'))).toBe(false);
      expect(readFileSync(ws.datasetInfo, 'utf8')).toBe(info);
    } finally {
      rmSync(filler(), { force: true });
    }
  }, 600_000);
});
