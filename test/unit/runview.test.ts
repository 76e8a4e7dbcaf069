import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunManifest, type TrainerRecord } from '../../src/core/run.js';
import { buildRunView, type RunViewInput } from '../../src/core/runview.js';
import { initialConsoleState, parseConsole, type ConsoleState } from '../../src/core/trainerconsole.js';
import { parseTrainerLog } from '../../src/core/trainerlog.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const read = (p: string) => readFileSync(join(FIX, p), 'utf8');
const records = (name: string) => parseTrainerLog(read(`${name}/output/trainer_log.jsonl`)).records;
const consoleOf = (name: string) => parseConsole(read(`${name}/stdout.log`), read(`${name}/stderr.log`));

const NOW = Date.parse('2026-11-27T22:00:00Z');

function input(over: Partial<RunViewInput>): RunViewInput {
  return { id: 'r', dir: '/runs/r', manifest: null, records: [], console: null, checkpoints: [], now: NOW, ...over };
}

function manifest(status: RunManifest['status'], extra: Partial<RunManifest> = {}): RunManifest {
  return RunManifest.parse({
    id: 'run-1',
    createdAt: '2026-11-27T21:36:28.000Z',
    updatedAt: '2026-11-27T21:37:53.000Z',
    status,
    model: 'tiny',
    datasets: ['scans'],
    profile: 'cpu',
    outputDir: '/runs/run-1/output',
    trainYaml: '/runs/run-1/train.yaml',
    command: ['llamafactory-cli', 'train', '/runs/run-1/train.yaml'],
    cwd: '/ws',
    attempts: [],
    ...extra,
  });
}

function consoleWith(patch: Partial<ConsoleState>): ConsoleState {
  return { ...initialConsoleState(), ...patch };
}

describe('buildRunView without a manifest (any LLaMA-Factory output_dir)', () => {
  it.each([
    {
      name: 'results written, all steps: completed',
      fixture: 'eval',
      results: { trainResults: true, allResults: true },
      status: 'completed',
    },
    {
      name: 'results written short of max_steps (graceful abort): stopped',
      fixture: 'abort',
      results: { trainResults: true, allResults: true },
      status: 'stopped',
    },
    { name: 'only all_results.json: completed', fixture: 'resume', results: { allResults: true }, status: 'completed' },
    { name: 'no results, logs fresh: training', fixture: 'abort', results: {}, lastActivityMs: NOW - 30_000, status: 'training' },
    {
      name: 'no results, logs stale, nothing known of a writer: ended-unknown',
      fixture: 'abort',
      results: {},
      lastActivityMs: NOW - 3_600_000,
      status: 'ended-unknown',
    },
    { name: 'no results, no log times: unknown', fixture: 'abort', results: {}, status: 'unknown' },
  ])('$name', ({ fixture, results, lastActivityMs, status }) => {
    const v = buildRunView(input({ records: records(fixture), results, lastActivityMs: lastActivityMs ?? null }));
    expect(v.status).toBe(status);
  });

  it('fresh logs and no records yet: preparing, with the phase from stderr', () => {
    const c = consoleOf('image-mismatch');
    const v = buildRunView(input({ console: c, lastActivityMs: NOW - 5_000 }));
    expect(v).toMatchObject({
      status: 'preparing',
      step: 0,
      totalSteps: null,
      percent: null,
      phase: { name: 'tokenizing dataset', done: 4, total: 8 },
    });
  });

  it('the console saving a checkpoint: saving', () => {
    const c = consoleWith({ phase: { name: 'saving checkpoint', done: 0, total: null, detail: 'checkpoint-10' } });
    expect(buildRunView(input({ records: records('abort').slice(0, 10), console: c, lastActivityMs: NOW })).status).toBe('saving');
  });

  it('the stale-after threshold is an option', () => {
    const v = buildRunView(input({ records: records('abort'), lastActivityMs: NOW - 60_000, staleAfterSeconds: 30 }));
    expect(v.status).toBe('ended-unknown');
    expect(v.etaSeconds).toBeNull();
  });
});

describe('buildRunView fields', () => {
  it('resume fixture, completed: latest values, attempts from records, ETA 0, no VRAM on CPU', () => {
    const v = buildRunView(
      input({ records: records('resume'), console: consoleOf('resume'), results: { trainResults: true }, checkpoints: [30, 20] }),
    );
    expect(v).toMatchObject({
      status: 'completed',
      phase: null,
      step: 30,
      totalSteps: 30,
      percent: 100,
      epoch: 10,
      loss: 8.387225151062012,
      evalLoss: null,
      etaSeconds: 0,
      peakVramGiB: null,
      attempts: 2,
      checkpoints: [20, 30],
      cause: null,
    });
    expect(v.records).toHaveLength(30);
    expect(v.throughput).toBeCloseTo((30720 - 11264) / 39, 6);
  });

  it('eval fixture: the last eval loss and the last learning rate', () => {
    const v = buildRunView(input({ records: records('eval'), results: { trainResults: true } }));
    expect(v.evalLoss).toBe(8.426125526428223);
    expect(v.lr).toBeCloseTo(7.59612349389599e-6, 12);
  });

  it('percent from step/total; peak VRAM is the largest reserved value', () => {
    const recs: TrainerRecord[] = [
      { step: 1, totalSteps: 3, loss: 2, vramAllocated: 10.5, vramReserved: 12.25, attempt: 0 },
      { step: 2, totalSteps: 3, loss: 1.5, vramAllocated: 11, vramReserved: 14.5, attempt: 0 },
      { step: 2, totalSteps: 3, evalLoss: 1.7, vramReserved: 13, attempt: 0 },
    ];
    const v = buildRunView(input({ records: recs, lastActivityMs: NOW }));
    expect(v).toMatchObject({ step: 2, percent: 66.67, loss: 1.5, evalLoss: 1.7, peakVramGiB: 14.5, status: 'training' });
  });

  it('a live run: ETA from the current attempt, counting down since the last record', () => {
    const recs: TrainerRecord[] = [
      { step: 10, totalSteps: 110, elapsed: '0:00:20', attempt: 0 },
      { step: 20, totalSteps: 110, elapsed: '0:00:40', attempt: 0 },
    ];
    const v = buildRunView(input({ records: recs, lastActivityMs: NOW, lastRecordMs: NOW - 10_000 }));
    expect(v.etaSeconds).toBeCloseTo(170, 6);
  });

  it('the training bar is ahead of trainer_log.jsonl between logging steps', () => {
    const c = consoleWith({
      trainBar: { desc: '', done: 17, total: 30, elapsedSeconds: 20, remainingSeconds: 15, rate: 1, unit: 'it' },
      totalSteps: 30,
    });
    const v = buildRunView(input({ records: records('resume').slice(0, 15), console: c, lastActivityMs: NOW }));
    expect(v.step).toBe(17);
    expect(v.percent).toBeCloseTo(56.67, 2);
  });

  it('no pace yet: the ETA falls back to the training bar', () => {
    const c = consoleWith({
      trainBar: { desc: '', done: 5, total: 30, elapsedSeconds: 2, remainingSeconds: 10, rate: 2.5, unit: 'it' },
      totalSteps: 30,
    });
    const v = buildRunView(input({ records: [], console: c, lastActivityMs: NOW }));
    expect(v).toMatchObject({ status: 'training', step: 5, totalSteps: 30, etaSeconds: 10 });
  });
});

describe('buildRunView with a manifest (a medtune run)', () => {
  it.each([
    { status: 'failed', want: 'failed' },
    { status: 'stopped', want: 'stopped' },
    { status: 'stopping', want: 'stopping' },
    { status: 'queued', want: 'queued' },
    { status: 'training', want: 'training' },
    { status: 'preparing', want: 'preparing' },
  ] as const)('$status stays $want when the logs add nothing', ({ status, want }) => {
    expect(buildRunView(input({ manifest: manifest(status) })).status).toBe(want);
  });

  it('preparing, but trainer records exist: training', () => {
    expect(buildRunView(input({ manifest: manifest('preparing'), records: records('abort').slice(0, 3) })).status).toBe('training');
  });

  it('a failed run: the cause, the attempts and no ETA', () => {
    const cause = { code: 'HOST_OOM', summary: 'killed', next: 'dmesg' };
    const m = manifest('failed', {
      attempts: [
        { n: 1, startedAt: '2026-11-27T21:36:28.383Z', endedAt: '2026-11-27T21:36:52.450Z', exitCode: null, signal: 'SIGKILL', cause },
      ],
      cause,
    });
    const v = buildRunView(input({ manifest: m, records: records('resume').slice(0, 13), checkpoints: [10] }));
    expect(v).toMatchObject({
      id: 'run-1',
      status: 'failed',
      attempts: 1,
      cause,
      etaSeconds: null,
      phase: null,
      step: 13,
      checkpoints: [10],
    });
  });

  it('updatedAt is the later of the manifest and the logs', () => {
    expect(buildRunView(input({ manifest: manifest('training'), lastActivityMs: NOW })).updatedAt).toBe(new Date(NOW).toISOString());
    expect(buildRunView(input({ manifest: manifest('training'), lastActivityMs: Date.parse('2026-11-27T21:00:00Z') })).updatedAt).toBe(
      '2026-11-27T21:37:53.000Z',
    );
    expect(buildRunView(input({})).updatedAt).toBeNull();
  });
});
