/**
 * Runs that outlive the UI, with the real llamafactory-cli on the tiny model: the CLI killed mid-run, the trainer
 * killed after a checkpoint then resumed, a graceful stop. After each, no process of the run is left.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/runtime/manifest.js';
import {
  BIN,
  DATASET,
  lastJson,
  makeWorkspace,
  medtune,
  killStrayProcesses,
  strayProcesses,
  waitUntil,
  type TestWorkspace,
} from './harness.js';

// ~60 steps of a few hundred ms each on 2 cores: long enough to interrupt, short enough for CI.
const TRAIN = [
  'train',
  '--dataset',
  DATASET,
  '--eval-dataset',
  'none',
  '--profile',
  'cpu',
  '--set',
  'num_train_epochs=1',
  '--set',
  'max_steps=60',
  '--set',
  'save_steps=10',
  '--set',
  'logging_steps=1',
  '--set',
  'save_total_limit=3',
];

interface Status {
  id: string;
  status: string;
  step: number;
  totalSteps: number;
  attempts: number;
  records: Array<{ step: number }>;
  cause: { code: string; summary: string; next: string } | null;
  checkpoints: number[];
}

describe('detached runs: kill, resume, stop', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('runs');
  });
  afterAll(async () => {
    // A failed test must not leave a trainer running on the CI machine.
    killStrayProcesses(t.ws);
    await t.cleanup();
  });

  const status = async (id: string): Promise<Status> => {
    const r = await medtune(t.ws, ['status', id, '--json', '--records']);
    if (r.exitCode !== 0) throw new Error(`medtune status ${id} exited ${r.exitCode} (${r.signal ?? 'no signal'}): ${r.all?.slice(-1500)}`);
    return lastJson<Status>(r.stdout);
  };
  const latestId = async () => (await medtune(t.ws, ['runs', '--json'])).stdout;

  it('keeps training when the CLI that started it is killed, and status shows every record', async () => {
    const cli = execa(process.execPath, [BIN, '-w', t.ws.root, ...TRAIN, '--model', t.modelDir, '--name', 'cli-killed'], {
      reject: false,
      env: { CI: '1' },
    });
    let id = '';
    await waitUntil(
      async () => {
        const runs = JSON.parse((await latestId()) || '[]') as Status[];
        id = runs.find((r) => r.id.endsWith('cli-killed'))?.id ?? '';
        return id !== '' && (await status(id)).step >= 3;
      },
      240_000,
      'the run to reach step 3',
    );
    cli.kill('SIGKILL');
    await cli;
    await waitUntil(async () => (await status(id)).status === 'completed', 300_000, 'the run to complete without its CLI');
    const s = await status(id);
    expect(s.step).toBe(60);
    expect(s.records.map((r) => r.step)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 900_000);

  it('marks a run killed after a checkpoint as failed with a cause, then resume finishes it at the full step count', async () => {
    const started = lastJson<{ id: string }>(
      (await medtune(t.ws, [...TRAIN, '--model', t.modelDir, '--name', 'trainer-killed', '--detach', '--json'])).stdout,
    );
    const id = started.id;
    await waitUntil(async () => (await status(id)).checkpoints.includes(10) && (await status(id)).step >= 12, 240_000, 'checkpoint-10');
    const m = await readManifest(join(t.ws.runsDir, id));
    process.kill(m!.attempts[0]!.pid!, 'SIGKILL');
    await waitUntil(async () => (await status(id)).status === 'failed', 60_000, 'the run to be marked failed');
    const failed = await status(id);
    expect(failed.cause?.code).toBe('HOST_OOM'); // a SIGKILL medtune did not send reads as the OOM killer
    expect(failed.cause?.next).toMatch(/resume/);

    const resumed = await medtune(t.ws, ['resume', id, '--json'], { timeout: 600_000 });
    expect(resumed.exitCode, resumed.all?.slice(-2000)).toBe(0);
    const done = await status(id);
    expect(done.status).toBe('completed');
    expect(done.step).toBe(60);
    expect(done.attempts).toBe(2);
    const steps = done.records.map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const manifest = await readManifest(join(t.ws.runsDir, id));
    expect(manifest!.attempts[1]!.resumedFrom).toMatch(/checkpoint-\d+$/);
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 1_200_000);

  it('stops gracefully with a saved adapter', async () => {
    const started = lastJson<{ id: string }>(
      (await medtune(t.ws, [...TRAIN, '--model', t.modelDir, '--name', 'stopped', '--detach', '--json'])).stdout,
    );
    const id = started.id;
    await waitUntil(async () => (await status(id)).step >= 5, 240_000, 'step 5');
    const stop = await medtune(t.ws, ['stop', id, '--json']);
    expect(stop.exitCode, stop.all).toBe(0);
    expect(lastJson<{ signals: string[] }>(stop.stdout).signals[0]).toBe('SIGABRT');
    const s = await status(id);
    expect(s.status).toBe('stopped');
    expect(s.step).toBeLessThan(60);
    expect(existsSync(join(t.ws.runsDir, id, 'output', 'adapter_model.safetensors'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(t.ws.runsDir, id, 'run.json'), 'utf8'));
    expect(manifest.attempts[0].exitCode).toBe(0);
    expect(strayProcesses(t.ws)).toEqual([]);
  }, 900_000);

  it("refuses a bad config before creating anything, with the parser's reason", async () => {
    const r = await medtune(t.ws, [...TRAIN, '--model', t.modelDir, '--set', 'no_such_key=1', '--json']);
    expect(r.exitCode).toBe(1);
    const err = lastJson<{ problem: string; next: string }>(r.stdout);
    expect(err.problem).toMatch(/no_such_key/);
    const runs = JSON.parse((await latestId()) || '[]') as Status[];
    expect(runs.some((x) => x.id.includes('no_such_key'))).toBe(false);
    expect(runs).toHaveLength(3);
  }, 300_000);
});
