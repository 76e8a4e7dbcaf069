/**
 * Jobs as files: job.json written by the job process (JobRecorder), reconciled with the supervisor's run.json
 * when the job process died without recording its end, and followed by watchJob until it ends.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobRecorder, readJobView, watchJob, writeJob, type JobState } from '../../src/app/jobs.js';
import type { RunManifest } from '../../src/core/run.js';
import { MedtuneError } from '../../src/core/errors.js';

let dir: string;
const state = (over: Partial<JobState> = {}): JobState => ({
  id: 'j1',
  kind: 'demo',
  status: 'running',
  params: {},
  steps: [
    { name: 'a', status: 'pending' },
    { name: 'b', status: 'pending' },
  ],
  progress: null,
  runId: null,
  result: null,
  error: null,
  updatedAt: '2026-12-04T18:00:00Z',
  ...over,
});
const manifest = (over: Partial<RunManifest> = {}): RunManifest => ({
  id: 'j1',
  kind: 'job',
  createdAt: '2026-12-04T18:00:00Z',
  updatedAt: '2026-12-04T18:00:00Z',
  status: 'preparing',
  model: '',
  datasets: [],
  profile: '',
  outputDir: join(dir, 'output'),
  trainYaml: '',
  command: ['node', 'job-main.js', dir],
  env: {},
  cwd: dir,
  attempts: [],
  autoResume: 0,
  ...over,
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'medtune-job-'));
  await mkdir(dir, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JobRecorder', () => {
  it('records a step running, then done with its detail, and a failed step with the error', async () => {
    const rec = new JobRecorder(dir, state());
    await rec.step(
      'a',
      async () => 42,
      (v) => `got ${v}`,
    );
    const after = JSON.parse(await readFile(join(dir, 'job.json'), 'utf8')) as JobState;
    expect(after.steps[0]).toMatchObject({ name: 'a', status: 'done', detail: 'got 42' });
    await expect(
      rec.step(
        'b',
        async () => {
          throw new MedtuneError({ doing: 'b', problem: 'it broke', code: 'X' });
        },
        () => '',
      ),
    ).rejects.toThrow('it broke');
    expect((await readJobView(dir)).steps[1]).toMatchObject({ name: 'b', status: 'failed', detail: 'it broke' });
  });

  it('always writes the last progress event, at most twice a second', async () => {
    const rec = new JobRecorder(dir, state());
    for (let i = 1; i <= 50; i++) rec.progress({ phase: 'train', done: i, total: 50 });
    await new Promise((r) => setTimeout(r, 700));
    expect((await readJobView(dir)).progress).toEqual({ phase: 'train', done: 50, total: 50 });
  });
});

describe('readJobView and watchJob', () => {
  it("show a job whose process died without recording its end as failed, with the supervisor's cause", async () => {
    await writeJob(dir, state());
    await writeFile(
      join(dir, 'run.json'),
      JSON.stringify(
        manifest({ status: 'failed', cause: { code: 'HOST_OOM', summary: 'killed by the kernel (out of memory)', next: 'free memory' } }),
      ),
    );
    const v = await readJobView(dir);
    expect(v.status).toBe('failed');
    expect(v.error).toMatchObject({ code: 'HOST_OOM', problem: 'killed by the kernel (out of memory)' });
  });

  it('follow a job to its end', async () => {
    await writeJob(dir, state());
    await writeFile(join(dir, 'run.json'), JSON.stringify(manifest()));
    const seen: string[] = [];
    const done = watchJob(dir, (s) => seen.push(s.status), undefined, 50);
    await new Promise((r) => setTimeout(r, 200));
    await writeJob(dir, state({ status: 'completed', result: { ok: true } }));
    const final = await done;
    expect(final.status).toBe('completed');
    expect(seen).toEqual(['running', 'completed']);
  });
});
