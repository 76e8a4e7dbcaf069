/**
 * Faults: two writers at once. Twenty `medtune data prepare` processes register datasets at the same moment; two
 * `medtune train` commands launched together plan the same run id; a run is planned on a GPU another process
 * already holds (nvidia-smi replayed from recordings of real H200s).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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

/** The busy-GPU findings of a `train --dry-run --json`, as their messages. */
const busy = (stdout: string): string[] =>
  lastJson<{ findings: { code: string; message: string }[] }>(stdout)
    .findings.filter((f) => f.code === 'GPU_BUSY')
    .map((f) => f.message);

const GPU_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'gpu');

describe('faults: two writers', () => {
  let t: TestWorkspace;
  beforeAll(async () => {
    t = await makeWorkspace('faults-writers');
  });
  afterEach(() => {
    expect(strayProcesses(t.ws)).toEqual([]);
  });
  afterAll(async () => {
    killStrayProcesses(t.ws);
    await t.cleanup();
  });

  it('20 concurrent `data prepare` registrations leave dataset_info.json valid with all 20 (and their _val)', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `conc${String(i).padStart(2, '0')}`);
    const results = await Promise.all(
      names.map((n) =>
        execa(
          process.execPath,
          [
            BIN,
            '-w',
            t.ws.root,
            'data',
            'prepare',
            '--source',
            'sample',
            '--name',
            n,
            '--limit',
            '10',
            '--val-ratio',
            '0.2',
            '--workers',
            '1',
            '--json',
          ],
          { reject: false, env: { CI: '1' } },
        ),
      ),
    );
    for (const r of results) expect(r.exitCode, r.stderr.slice(-1500)).toBe(0);
    const info = JSON.parse(readFileSync(t.ws.datasetInfo, 'utf8')) as Record<string, { file_name: string }>;
    for (const n of names) {
      expect(info[n]?.file_name).toBe(`${n}/train.jsonl`);
      expect(info[`${n}_val`]?.file_name).toBe(`${n}/val.jsonl`);
    }
    // The entry that was there before survived every merge.
    expect(info[DATASET]).toBeDefined();
  }, 900_000);

  it('two `train` launches in the same second get distinct run folders, and both runs complete', async () => {
    const args = [
      'train',
      '--dataset',
      DATASET,
      '--model',
      t.modelDir,
      '--profile',
      'cpu',
      '--set',
      'max_steps=4',
      '--set',
      'save_steps=2',
      '--name',
      'twin',
      '--detach',
      '--json',
    ];
    const [a, b] = await Promise.all([medtune(t.ws, args), medtune(t.ws, args)]);
    expect(a!.exitCode, a!.all?.slice(-1500)).toBe(0);
    expect(b!.exitCode, b!.all?.slice(-1500)).toBe(0);
    const ids = [lastJson<{ id: string }>(a!.stdout).id, lastJson<{ id: string }>(b!.stdout).id];
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      const yaml = readFileSync(join(t.ws.runsDir, id, 'train.yaml'), 'utf8');
      expect(yaml).toContain(`output_dir: ${join(t.ws.runsDir, id, 'output')}`);
    }
    const status = async (id: string) => lastJson<{ status: string; step: number }>((await medtune(t.ws, ['status', id, '--json'])).stdout);
    await waitUntil(
      async () => (await Promise.all(ids.map(status))).every((s) => s.status === 'completed'),
      600_000,
      'both runs to complete',
    );
    for (const id of ids) expect((await status(id)).step).toBe(4);
  }, 900_000);

  it('planning a run on a GPU another process holds warns, naming that process and its memory', async () => {
    const env = {
      CI: '1',
      MEDTUNE_NVIDIA_SMI: join(GPU_FIXTURES, 'replay-nvidia-smi.mjs'),
      MEDTUNE_REPLAY_DIR: join(GPU_FIXTURES, 'h200x2'),
      MEDTUNE_REPLAY_GPU: 'oneshot-idle.csv',
      MEDTUNE_REPLAY_APPS: 'apps-load-1.csv',
    };
    const run = (gpus: string) =>
      execa(
        process.execPath,
        [
          BIN,
          '-w',
          t.ws.root,
          'train',
          '--dataset',
          DATASET,
          '--model',
          t.modelDir,
          '--profile',
          'cpu',
          '--gpus',
          gpus,
          '--dry-run',
          '--json',
        ],
        { reject: false, env },
      );
    const one = await run('1');
    expect(one.exitCode, one.stderr.slice(-1500)).toBe(0);
    const warnings = busy(one.stdout);
    // apps-load-1.csv: pid 704 (python3) holds 4202 MiB on GPU 1, pid 703 3178 MiB on GPU 0.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^GPU 1 is already busy: pid 704 \S+.*holding 4\.1 GiB/);
    const byUuid = await run('GPU-6c6d2b6e-9078-1312-0b80-87c682177c9e');
    expect(busy(byUuid.stdout)).toEqual([expect.stringMatching(/^GPU 0 is already busy: pid 703 /) as unknown as string]);
    const idle = await execa(
      process.execPath,
      [
        BIN,
        '-w',
        t.ws.root,
        'train',
        '--dataset',
        DATASET,
        '--model',
        t.modelDir,
        '--profile',
        'cpu',
        '--gpus',
        '0',
        '--dry-run',
        '--json',
      ],
      { reject: false, env: { ...env, MEDTUNE_REPLAY_APPS: 'apps-idle.csv' } },
    );
    expect(busy(idle.stdout)).toEqual([]);
  }, 300_000);
});
