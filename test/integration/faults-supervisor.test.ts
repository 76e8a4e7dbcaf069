/**
 * Faults: the supervisor itself is killed. With the real llamafactory-cli on the tiny model: the whole tree
 * SIGKILLed (what a reboot does to a run), the supervisor alone SIGKILLed (the trainer goes on), a pid reused by
 * another process, a boot id that changed. `status`/`runs` work out what happened; `resume` works; nothing is left.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import { isAlive } from '../../src/runtime/proctree.js';
import { DATASET, lastJson, makeWorkspace, medtune, killStrayProcesses, strayProcesses, waitUntil, type TestWorkspace } from './harness.js';

const TRAIN = [
  'train',
  '--dataset',
  DATASET,
  '--profile',
  'cpu',
  '--set',
  'max_steps=40',
  '--set',
  'save_steps=10',
  '--set',
  'logging_steps=1',
  '--detach',
  '--json',
];

interface Status {
  id: string;
  status: string;
  step: number;
  totalSteps: number;
  attempts: number;
  checkpoints: number[];
  cause: { code: string; summary: string; next: string } | null;
}

describe('faults: the supervisor is killed', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('faults-sup');
  });
  afterEach(() => {
    // Orphans: after every fault, no process of this workspace (supervisor, llamafactory-cli, workers) is left.
    expect(strayProcesses(t.ws)).toEqual([]);
  });
  afterAll(async () => {
    killStrayProcesses(t.ws);
    await t.cleanup();
  });

  const status = async (id: string): Promise<Status> => {
    const r = await medtune(t.ws, ['status', id, '--json']);
    if (r.exitCode !== 0) throw new Error(`status exited ${r.exitCode}: ${r.all?.slice(-1500)}`);
    return lastJson<Status>(r.stdout);
  };
  const start = async (name: string): Promise<string> => {
    const r = await medtune(t.ws, [...TRAIN, '--model', t.modelDir, '--name', name]);
    expect(r.exitCode, r.all?.slice(-2000)).toBe(0);
    return lastJson<{ id: string }>(r.stdout).id;
  };

  it('a killed tree (reboot) is marked failed with SUPERVISOR_LOST by status and runs; resume finishes it', async () => {
    const id = await start('tree-killed');
    await waitUntil(
      async () => {
        const s = await status(id);
        return s.checkpoints.includes(10) && s.step >= 12;
      },
      300_000,
      'checkpoint-10',
    );
    const a = (await readManifest(join(t.ws.runsDir, id)))!.attempts[0]!;
    expect(a.bootId).toBeTruthy();
    expect(a.pidStartTicks).toBeGreaterThan(0);
    process.kill(a.supervisorPid!, 'SIGKILL');
    process.kill(-a.pgid!, 'SIGKILL');
    await waitUntil(() => !isAlive(a.pid) && !isAlive(a.supervisorPid), 30_000, 'the tree to die');

    const s = await status(id);
    expect(s.status).toBe('failed');
    expect(s.cause?.code).toBe('SUPERVISOR_LOST');
    expect(s.cause?.next).toMatch(new RegExp(`medtune resume ${id}`));
    const runs = lastJson<Status[]>((await medtune(t.ws, ['runs', '--json'])).stdout);
    expect(runs.find((r) => r.id === id)?.status).toBe('failed');

    const resumed = await medtune(t.ws, ['resume', id, '--json'], { timeout: 600_000 });
    expect(resumed.exitCode, resumed.all?.slice(-2000)).toBe(0);
    const done = await status(id);
    expect(done.status).toBe('completed');
    expect(done.step).toBe(40);
    expect(done.attempts).toBe(2);
  }, 900_000);

  it('a killed supervisor leaves the trainer running (still "training"); once it ends, status records completed', async () => {
    const id = await start('sup-killed');
    await waitUntil(async () => (await status(id)).step >= 3, 300_000, 'step 3');
    const a = (await readManifest(join(t.ws.runsDir, id)))!.attempts[0]!;
    process.kill(a.supervisorPid!, 'SIGKILL');
    await waitUntil(() => !isAlive(a.supervisorPid), 30_000, 'the supervisor to die');
    expect(isAlive(a.pid)).toBe(true);
    expect(['preparing', 'training', 'saving']).toContain((await status(id)).status);
    await waitUntil(() => !isAlive(a.pid), 300_000, 'the orphaned trainer to finish');
    const s = await status(id);
    expect(s.status).toBe('completed');
    expect(s.step).toBe(40);
    expect((await readManifest(join(t.ws.runsDir, id)))!.attempts[0]!.endedAt).toBeTruthy();
  }, 900_000);

  it('a pid now held by another process (pid reuse) does not keep a dead run "training"', async () => {
    const src = join(
      t.ws.runsDir,
      (await readManifest(join(t.ws.runsDir, lastJson<Status[]>((await medtune(t.ws, ['runs', '--json'])).stdout)[0]!.id)))!.id,
    );
    const id = '20990101-000000-pid-reused';
    const dir = join(t.ws.runsDir, id);
    mkdirSync(dir);
    cpSync(join(src, 'train.yaml'), join(dir, 'train.yaml'));
    mkdirSync(join(dir, 'output'));
    const other = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      const m = JSON.parse(readFileSync(join(src, 'run.json'), 'utf8')) as Record<string, unknown> & {
        attempts: Record<string, unknown>[];
      };
      const a: Record<string, unknown> = {
        ...m.attempts[0]!,
        pid: other.pid,
        pgid: other.pid,
        supervisorPid: other.pid,
        supervisorStartTicks: 1,
        pidStartTicks: 1,
      };
      delete a.endedAt;
      delete a.exitCode;
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...m, id, status: 'training', outputDir: join(dir, 'output'), attempts: [a] }));
      const s = await status(id);
      expect(s.status).toBe('failed');
      expect(s.cause?.code).toBe('SUPERVISOR_LOST');
      expect(s.cause?.summary).toMatch(/another process/);
      expect(isAlive(other.pid)).toBe(true);

      // A restarted machine: the boot id recorded with the attempt is not this boot's.
      const id2 = '20990101-000001-rebooted';
      cpSync(dir, join(t.ws.runsDir, id2), { recursive: true });
      writeFileSync(
        join(t.ws.runsDir, id2, 'run.json'),
        JSON.stringify({
          ...m,
          id: id2,
          status: 'training',
          outputDir: join(t.ws.runsDir, id2, 'output'),
          attempts: [{ ...a, bootId: '00000000-0000-0000-0000-000000000000' }],
        }),
      );
      const r = await status(id2);
      expect(r.status).toBe('failed');
      expect(r.cause?.code).toBe('INTERRUPTED');
      expect(r.cause?.next).toMatch(/no complete checkpoint/);
    } finally {
      other.kill('SIGKILL');
    }
  }, 120_000);
});
