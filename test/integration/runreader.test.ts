import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MedtuneError } from '../../src/core/errors.js';
import { RunManifest } from '../../src/core/run.js';
import type { RunView } from '../../src/core/run.js';
import { latestCompleteCheckpoint, listCheckpoints } from '../../src/runtime/checkpoints.js';
import { followRunDir, readRunContents, readRunDir } from '../../src/runtime/rundir.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const FAR_FUTURE = Date.parse('2100-01-01T00:00:00Z');

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'medtune-rundir-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** runs/run-1/ made from the resume fixture, with a run.json in today's schema from what record.sh saw. */
function resumeRunFolder(status: RunManifest['status'] = 'completed'): string {
  const dir = join(tmp, 'runs', 'run-1');
  mkdirSync(dir, { recursive: true });
  for (const f of ['stdout.log', 'stderr.log', 'train.yaml']) cpSync(join(FIX, 'resume', f), join(dir, f));
  cpSync(join(FIX, 'resume', 'output'), join(dir, 'output'), { recursive: true });
  const meta = JSON.parse(readFileSync(join(FIX, 'resume', 'meta.json'), 'utf8')) as {
    attempts: { pid: number; startedAt: string; endedAt: string; exitCode: number; signal: string | null }[];
  };
  const manifest = RunManifest.parse({
    id: 'run-1',
    createdAt: meta.attempts[0]!.startedAt,
    updatedAt: meta.attempts[1]!.endedAt,
    status,
    model: 'tiny',
    datasets: ['scans'],
    profile: 'cpu',
    outputDir: 'runs/run-1/output',
    trainYaml: join(dir, 'train.yaml'),
    command: ['llamafactory-cli', 'train', join(dir, 'train.yaml')],
    cwd: tmp,
    attempts: meta.attempts.map((a, i) => ({
      n: i + 1,
      startedAt: a.startedAt,
      endedAt: a.endedAt,
      pid: a.pid,
      exitCode: a.signal ? null : a.exitCode,
      signal: a.signal,
      ...(i === 1 ? { resumedFrom: join(dir, 'output', 'checkpoint-10'), startStep: 10 } : {}),
    })),
  });
  writeFileSync(join(dir, 'run.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

describe('readRunDir: a medtune run folder', () => {
  it('reads run.json, the logs and output/ (relative outputDir resolved against cwd)', async () => {
    const dir = resumeRunFolder();
    const v = await readRunDir(dir);
    expect(v).toMatchObject({
      id: 'run-1',
      dir,
      status: 'completed',
      step: 30,
      totalSteps: 30,
      percent: 100,
      attempts: 2,
      checkpoints: [20, 30],
      phase: null,
    });
    expect(v.records.map((r) => r.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const c = await readRunContents(dir);
    expect(c).toMatchObject({ kind: 'run', outputDir: join(dir, 'output') });
    expect(c.console.resumedFrom?.step).toBe(10);
  });

  it('given runs/<id>/output, reads the run it belongs to', async () => {
    const dir = resumeRunFolder();
    const v = await readRunDir(join(dir, 'output'));
    expect(v).toMatchObject({ id: 'run-1', dir, attempts: 2 });
  });

  it('a run.json that does not match the schema is an error that says so', async () => {
    const dir = resumeRunFolder();
    writeFileSync(join(dir, 'run.json'), '{"id": 3}');
    await expect(readRunDir(dir)).rejects.toBeInstanceOf(MedtuneError);
  });
});

describe('readRunDir: a bare LLaMA-Factory output_dir', () => {
  it.each([
    { name: 'resume/output', want: { status: 'completed', step: 30, attempts: 2, checkpoints: [20, 30] } },
    { name: 'abort/output', want: { status: 'stopped', step: 12, totalSteps: 200, percent: 6, checkpoints: [10], etaSeconds: null } },
    { name: 'eval/output', want: { status: 'completed', step: 20, evalLoss: 8.426125526428223, checkpoints: [10, 20] } },
    {
      name: 'errors/disk-full-optimizer.output',
      want: { status: 'ended-unknown', step: 5, totalSteps: 10, checkpoints: [], etaSeconds: null },
    },
  ])('$name', async ({ name, want }) => {
    const v = await readRunDir(join(FIX, name), { now: FAR_FUTURE });
    expect(v).toMatchObject({ ...want, cause: null });
  });

  it.skipIf(!existsSync(join(FIX, 'train-ok', 'trainer_log.jsonl')))('train-ok (a plain CLI run)', async () => {
    const v = await readRunDir(join(FIX, 'train-ok'), { now: FAR_FUTURE });
    expect(v.status).toBe('completed');
    expect(v.step).toBe(v.totalSteps);
  });

  it('running_log.txt gives the console state of a LLaMA Board run', async () => {
    const c = await readRunContents(join(FIX, 'abort', 'output'));
    expect(c).toMatchObject({ kind: 'output', console: { totalSteps: 200, checkpointsSaved: [10], trainingCompleted: true } });
  });

  it('without trainer_log.jsonl, the records come from trainer_state.json', async () => {
    const out = join(tmp, 'out');
    cpSync(join(FIX, 'eval', 'output'), out, { recursive: true });
    unlinkSync(join(out, 'trainer_log.jsonl'));
    const v = await readRunDir(out, { now: FAR_FUTURE });
    expect(v.records.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(v.evalLoss).toBe(8.426125526428223);
  });

  it('tolerates a half-written last line and counts a fresh log as alive', async () => {
    const out = join(tmp, 'out');
    cpSync(join(FIX, 'abort', 'output'), out, { recursive: true });
    for (const f of ['train_results.json', 'all_results.json', 'running_log.txt']) unlinkSync(join(out, f));
    const log = join(out, 'trainer_log.jsonl');
    const head = readFileSync(log, 'utf8').split('\n').slice(0, 8).join('\n');
    writeFileSync(log, `${head}\n{"current_steps": 9, "total_steps": 200, "loss": 8.5`);
    const v = await readRunDir(out);
    expect(v).toMatchObject({ status: 'training', step: 8, totalSteps: 200, phase: { name: 'training', done: 8, total: 200 } });
  });

  it.each([
    { name: 'an empty folder', make: (p: string) => mkdirSync(p) },
    { name: 'a missing folder', make: () => undefined },
  ])('$name is not a run', async ({ make }) => {
    const p = join(tmp, 'x');
    make(p);
    await expect(readRunDir(p)).rejects.toMatchObject({ code: 'NOT_A_RUN' });
  });
});

describe('listCheckpoints and latestCompleteCheckpoint', () => {
  it('recorded checkpoints are complete', async () => {
    const out = join(FIX, 'resume', 'output');
    expect(await listCheckpoints(out)).toEqual([
      { step: 20, path: join(out, 'checkpoint-20'), complete: true },
      { step: 30, path: join(out, 'checkpoint-30'), complete: true },
    ]);
    expect(await latestCompleteCheckpoint(out)).toBe(join(out, 'checkpoint-30'));
  });

  it.each(['disk-full-adapter', 'disk-full-tokenizer', 'disk-full-optimizer'])(
    '%s: the checkpoint cut by a full disk is incomplete',
    async (name) => {
      const out = join(FIX, 'errors', `${name}.output`);
      expect(await listCheckpoints(out)).toEqual([{ step: 5, path: join(out, 'checkpoint-5'), complete: false }]);
      expect(await latestCompleteCheckpoint(out)).toBeNull();
    },
  );

  const state = JSON.stringify({ global_step: 5, max_steps: 10, log_history: [] });
  it.each([
    { name: 'LoRA adapter + trainer_state.json', files: { 'adapter_model.safetensors': 'w', 'trainer_state.json': state }, complete: true },
    { name: 'legacy .bin adapter', files: { 'adapter_model.bin': 'w', 'trainer_state.json': state }, complete: true },
    { name: 'sharded full weights', files: { 'model.safetensors.index.json': '{}', 'trainer_state.json': state }, complete: true },
    { name: 'DeepSpeed layout', files: { latest: 'global_step5', 'trainer_state.json': state }, complete: true },
    { name: 'no trainer_state.json', files: { 'adapter_model.safetensors': 'w' }, complete: false },
    {
      name: 'trainer_state.json cut short',
      files: { 'adapter_model.safetensors': 'w', 'trainer_state.json': state.slice(0, 20) },
      complete: false,
    },
    {
      name: 'trainer_state.json without global_step',
      files: { 'adapter_model.safetensors': 'w', 'trainer_state.json': '{}' },
      complete: false,
    },
    { name: 'empty weights', files: { 'adapter_model.safetensors': '', 'trainer_state.json': state }, complete: false },
    { name: 'no weights', files: { 'optimizer.pt': 'o', 'trainer_state.json': state }, complete: false },
  ])('$name -> complete: $complete', async ({ files, complete }) => {
    const ck = join(tmp, 'checkpoint-5');
    mkdirSync(ck);
    for (const [name, body] of Object.entries(files)) writeFileSync(join(ck, name), body);
    expect(await listCheckpoints(tmp)).toEqual([{ step: 5, path: ck, complete }]);
  });

  it('ignores what is not checkpoint-<N>/, and sorts by step number', async () => {
    for (const name of ['checkpoint-100', 'checkpoint-20', 'tmp-checkpoint-5', 'checkpoint-x']) mkdirSync(join(tmp, name));
    writeFileSync(join(tmp, 'checkpoint-7'), 'a file');
    expect((await listCheckpoints(tmp)).map((c) => c.step)).toEqual([20, 100]);
    expect(await listCheckpoints(join(tmp, 'missing'))).toEqual([]);
  });
});

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('followRunDir', () => {
  it('follows a run as its files are written: phases, records across attempts, then the final status', async () => {
    const dir = resumeRunFolder('training');
    const out = join(dir, 'output');
    const stderr = readFileSync(join(dir, 'stderr.log'), 'utf8');
    const stdout = readFileSync(join(dir, 'stdout.log'), 'utf8');
    const log = readFileSync(join(out, 'trainer_log.jsonl'), 'utf8').split('\n');
    rmSync(out, { recursive: true });
    writeFileSync(join(dir, 'stderr.log'), '');
    writeFileSync(join(dir, 'stdout.log'), '');

    const views: RunView[] = [];
    const f = await followRunDir(dir, (v) => views.push(v), { debounceMs: 20, tickMs: 3_600_000, pollMs: 50 });
    try {
      const last = () => views[views.length - 1];
      expect(last()).toMatchObject({ id: 'run-1', status: 'training', step: 0, records: [] });

      const tokenizing = stderr.indexOf('Running tokenizer on dataset');
      appendFileSync(join(dir, 'stderr.log'), stderr.slice(0, stderr.indexOf('\r', tokenizing + 80)));
      await waitFor(() => last()?.phase?.name === 'tokenizing dataset', 'the tokenizing phase');

      mkdirSync(out);
      appendFileSync(join(out, 'trainer_log.jsonl'), `${log.slice(0, 13).join('\n')}\n${log[13]!.slice(0, 40)}`);
      await waitFor(() => last()?.step === 13, 'step 13');
      expect(last()?.records).toHaveLength(13);

      appendFileSync(join(out, 'trainer_log.jsonl'), `${log[13]!.slice(40)}\n${log.slice(14).join('\n')}`);
      appendFileSync(join(dir, 'stderr.log'), stderr.slice(stderr.indexOf('\r', tokenizing + 80)));
      appendFileSync(join(dir, 'stdout.log'), stdout);
      await waitFor(() => last()?.records.length === 30, 'all 30 records');
      expect(last()?.records.map((r) => r.attempt)).toEqual([...Array(10).fill(0), ...Array(20).fill(1)]);

      const m = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(dir, 'run.json.tmp'), JSON.stringify({ ...m, status: 'completed' }));
      renameSync(join(dir, 'run.json.tmp'), join(dir, 'run.json'));
      await waitFor(() => last()?.status === 'completed', 'the completed status');
      expect(last()).toMatchObject({ step: 30, percent: 100, etaSeconds: 0, phase: null, attempts: 2 });
      expect(f.view).toBe(last());
    } finally {
      await f.close();
    }
    const n = views.length;
    appendFileSync(join(out, 'trainer_log.jsonl'), 'more\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(views).toHaveLength(n);
  });

  it('a bare output_dir read at start is not taken for a live one', async () => {
    const out = join(tmp, 'out');
    cpSync(join(FIX, 'abort', 'output'), out, { recursive: true });
    for (const f of ['train_results.json', 'all_results.json']) unlinkSync(join(out, f));
    const old = new Date('2026-01-01T00:00:00Z');
    for (const name of readdirSync(out)) utimesSync(join(out, name), old, old);
    const views: RunView[] = [];
    const f = await followRunDir(out, (v) => views.push(v), { tickMs: 3_600_000 });
    await f.close();
    expect(views[0]).toMatchObject({ status: 'ended-unknown', step: 12, etaSeconds: null });
  });
});
