import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  TrainerLogReader,
  decodeTrainerLine,
  parseTimedelta,
  parseTrainerLog,
  recordsFromTrainerState,
} from '../../src/core/trainerlog.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const fixture = (p: string) => readFileSync(join(FIX, p), 'utf8');
const lines = (p: string) =>
  fixture(p)
    .split('\n')
    .filter((l) => l !== '');

/** Deterministic uneven chunks (1..97 bytes), to cut lines and JSON anywhere. */
function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0, k = 0; i < text.length; k++) {
    const n = 1 + ((k * 37) % 97);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('parseTimedelta', () => {
  it.each([
    ['0:00:00', 0],
    ['0:00:41', 41],
    ['0:25:12', 1512],
    ['12:03:04', 43384],
    ['1 day, 2:03:04', 93784],
    ['3 days, 0:00:01', 259201],
    ['0:00:02.500000', 2.5],
    ['', undefined],
    ['00:41', undefined],
    ['soon', undefined],
  ])('%j -> %j', (text, seconds) => {
    expect(parseTimedelta(text)).toBe(seconds);
  });
});

describe('decodeTrainerLine', () => {
  const resume = lines('resume/output/trainer_log.jsonl');
  const evalLog = lines('eval/output/trainer_log.jsonl');
  it.each([
    {
      name: 'training record (RECORD_VRAM on CPU)',
      line: resume[0]!,
      want: {
        step: 1,
        totalSteps: 30,
        loss: 8.612677574157715,
        lr: 0,
        epoch: 0.3333333333333333,
        percent: 3.33,
        elapsed: '0:00:02',
        remaining: '0:00:58',
        throughput: 506.35,
        totalTokens: 1024,
        vramAllocated: 0,
        vramReserved: -0,
      },
    },
    {
      name: 'eval-only record',
      line: evalLog.find((l) => l.includes('eval_loss'))!,
      want: { step: 5, totalSteps: 20, evalLoss: 8.536162376403809, epoch: 1.8888888888888888, percent: 25 },
    },
    {
      name: 'final summary (no loss, no lr)',
      line: resume[resume.length - 1]!,
      want: { step: 30, totalSteps: 30, epoch: 10, percent: 100, throughput: 588.25, totalTokens: 30720 },
    },
    {
      name: "the reference's example line",
      line: '{"current_steps": 10, "total_steps": 375, "loss": 1.2345, "lr": 9.9e-05, "epoch": 0.08, "percentage": 2.67, "elapsed_time": "0:00:41", "remaining_time": "0:25:12", "throughput": 812.4, "total_tokens": 33280}',
      want: { step: 10, totalSteps: 375, loss: 1.2345, lr: 9.9e-5, remaining: '0:25:12', totalTokens: 33280 },
    },
    {
      name: 'minimal progress-only record (predict runs)',
      line: '{"current_steps": 5, "total_steps": 40, "percentage": 12.5, "elapsed_time": "0:00:03", "remaining_time": "0:00:21"}',
      want: { step: 5, totalSteps: 40, percent: 12.5, elapsed: '0:00:03' },
    },
  ])('$name', ({ line, want }) => {
    expect(decodeTrainerLine(line)).toMatchObject(want);
  });

  it('keeps a diverged loss as NaN (Python writes a bare NaN, which is not JSON)', () => {
    const rec = decodeTrainerLine('{"current_steps": 7, "total_steps": 9, "loss": NaN, "lr": 1e-05, "epoch": 0.5}');
    expect(rec?.loss).toBeNaN();
    expect(rec?.lr).toBe(1e-5);
    expect(decodeTrainerLine('{"current_steps": 7, "total_steps": 9, "loss": Infinity}')?.loss).toBe(Number.POSITIVE_INFINITY);
  });

  it.each([
    ['half a line', resume[3]!.slice(0, 60)],
    ['garbage', 'Traceback (most recent call last):'],
    ['a JSON array', '[1, 2]'],
    ['no current_steps', '{"total_steps": 30, "loss": 1.0}'],
    ['a fractional step', '{"current_steps": 1.5, "total_steps": 30}'],
    ['blank', '   '],
  ])('rejects %s', (_name, line) => {
    expect(decodeTrainerLine(line)).toBeUndefined();
  });
});

describe('parseTrainerLog on recorded runs', () => {
  it('resume: kill -9 at step 13, auto-resume from checkpoint-10 appends steps 11.. again', () => {
    const r = parseTrainerLog(fixture('resume/output/trainer_log.jsonl'));
    expect(r.raw).toHaveLength(34);
    expect(r.attempts).toBe(2);
    expect(r.attemptStartSteps).toEqual([1, 11]);
    expect(r.records.map((x) => x.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(r.records.filter((x) => x.step <= 10).every((x) => x.attempt === 0)).toBe(true);
    expect(r.records.filter((x) => x.step > 10).every((x) => x.attempt === 1)).toBe(true);
    // Step 11 is the second attempt's (its clock restarted, elapsed 13 s, not the first attempt's 12 s).
    expect(r.records[10]).toMatchObject({ step: 11, elapsed: '0:00:13', throughput: 852.37 });
    // The final summary completes step 30 without erasing its loss.
    expect(r.records[29]).toMatchObject({ step: 30, loss: 8.387225151062012, throughput: 588.25 });
    expect(r.remainder).toBe('');
    expect(r.skipped).toBe(0);
  });

  it('eval: eval-only records merge into their step; no step twice', () => {
    const r = parseTrainerLog(fixture('eval/output/trainer_log.jsonl'));
    expect(r.raw).toHaveLength(25);
    expect(r.attempts).toBe(1);
    expect(r.records.map((x) => x.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const withEval = r.records.filter((x) => x.evalLoss !== undefined);
    expect(withEval.map((x) => x.step)).toEqual([5, 10, 15, 20]);
    expect(withEval.every((x) => x.loss !== undefined)).toBe(true);
  });

  it('abort: stopped at step 12 of 200, summary merged', () => {
    const r = parseTrainerLog(fixture('abort/output/trainer_log.jsonl'));
    expect(r.records).toHaveLength(12);
    expect(r.records[11]).toMatchObject({ step: 12, totalSteps: 200, loss: 8.535633087158203, totalTokens: 12416 });
  });

  it.skipIf(!existsSync(join(FIX, 'train-ok', 'trainer_log.jsonl')))('train-ok: one record per step up to total_steps', () => {
    const r = parseTrainerLog(fixture('train-ok/trainer_log.jsonl'));
    const steps = r.records.map((x) => x.step);
    expect(new Set(steps).size).toBe(steps.length);
    expect(steps[steps.length - 1]).toBe(r.records[0]?.totalSteps);
  });
});

describe('TrainerLogReader (incremental)', () => {
  it.each(['resume', 'eval', 'abort'])('%s: any chunking gives the whole-file result', (name) => {
    const text = fixture(`${name}/output/trainer_log.jsonl`);
    const reader = new TrainerLogReader();
    let fed = 0;
    for (const c of chunks(text)) fed += reader.feed(c).length;
    expect(fed).toBe(reader.raw.length);
    expect(reader.result()).toEqual(parseTrainerLog(text));
  });

  it('holds a half-written last line until its newline arrives', () => {
    const all = lines('resume/output/trainer_log.jsonl');
    const reader = new TrainerLogReader();
    reader.feed(`${all[0]}\n${all[1]}\n${all[2]!.slice(0, 50)}`);
    expect(reader.records().map((r) => r.step)).toEqual([1, 2]);
    expect(reader.remainder).toBe(all[2]!.slice(0, 50));
    expect(reader.flush()).toBeUndefined();
    const done = reader.feed(`${all[2]!.slice(50)}\n`);
    expect(done.map((r) => r.step)).toEqual([3]);
    expect(reader.remainder).toBe('');
  });

  it('whole-file parsing takes a complete last record without its newline; the reader waits for it', () => {
    const all = lines('abort/output/trainer_log.jsonl');
    const text = `${all[0]}\n${all[1]}`;
    expect(parseTrainerLog(text).records).toHaveLength(2);
    const reader = new TrainerLogReader();
    reader.feed(text);
    expect(reader.records()).toHaveLength(1);
  });

  it('counts garbage lines, ignores blank ones', () => {
    const all = lines('abort/output/trainer_log.jsonl');
    const r = parseTrainerLog(`${all[0]}\n\n{"oops": \nnot json\n${all[1]}\n`);
    expect(r.records.map((x) => x.step)).toEqual([1, 2]);
    expect(r.skipped).toBe(2);
  });

  it('a second training record at the same step starts a new attempt, which wins', () => {
    const all = lines('abort/output/trainer_log.jsonl');
    const again = all[9]!.replace('"loss": ', '"loss": 1.5, "was": ');
    const r = parseTrainerLog(`${all.slice(0, 10).join('\n')}\n${again}\n`);
    expect(r.attempts).toBe(2);
    expect(r.records).toHaveLength(10);
    expect(r.records[9]).toMatchObject({ step: 10, loss: 1.5, attempt: 1 });
  });

  it('a clock that goes back starts a new attempt even when steps go on (resume exactly at the last logged step)', () => {
    const all = lines('abort/output/trainer_log.jsonl').slice(0, 12);
    const resumed = all.slice(10).map((l) => l.replace(/"elapsed_time": "[^"]+"/, '"elapsed_time": "0:00:01"'));
    const r = parseTrainerLog(`${[...all.slice(0, 10), ...resumed].join('\n')}\n`);
    expect(r.attempts).toBe(2);
    expect(r.attemptStartSteps).toEqual([1, 11]);
    expect(r.records.map((x) => x.attempt)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });

  it("a new attempt supersedes the old attempt's records from its first step on", () => {
    // Attempt 0 logged up to 13; attempt 1 resumed from checkpoint-10 and has only reached 11 so far.
    const all = lines('resume/output/trainer_log.jsonl');
    const r = parseTrainerLog(`${all.slice(0, 14).join('\n')}\n`);
    expect(r.records.map((x) => `${x.step}:${x.attempt}`).slice(-3)).toEqual(['9:0', '10:0', '11:1']);
  });

  it('drops a line too long to be a record instead of holding it', () => {
    const all = lines('abort/output/trainer_log.jsonl');
    const reader = new TrainerLogReader();
    reader.feed(`${all[0]}\n`);
    for (let i = 0; i < 3; i++) reader.feed('x'.repeat(600_000));
    expect(reader.remainder.length).toBeLessThan(1_300_000);
    reader.feed(`tail of it\n${all[1]}\n`);
    expect(reader.records().map((r) => r.step)).toEqual([1, 2]);
    expect(reader.result().skipped).toBe(1);
  });

  it('reset() forgets everything (the file was replaced)', () => {
    const reader = new TrainerLogReader();
    reader.feed(fixture('abort/output/trainer_log.jsonl'));
    reader.reset();
    expect(reader.result()).toEqual(parseTrainerLog(''));
    reader.feed(`${lines('eval/output/trainer_log.jsonl')[0]}\n`);
    expect(reader.records()).toMatchObject([{ step: 1, totalSteps: 20, attempt: 0 }]);
  });
});

describe('recordsFromTrainerState', () => {
  it('rebuilds the series from log_history when trainer_log.jsonl is gone', () => {
    const recs = recordsFromTrainerState(JSON.parse(fixture('eval/output/trainer_state.json')));
    expect(recs.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(recs.filter((r) => r.evalLoss !== undefined).map((r) => r.step)).toEqual([5, 10, 15, 20]);
    expect(recs[0]).toMatchObject({ step: 1, totalSteps: 20, attempt: 0, percent: 5 });
    expect(recs[0]?.loss).toBeTypeOf('number');
  });

  it.each([[null], [42], [{}], [{ log_history: 'x' }]])('tolerates %j', (state) => {
    expect(recordsFromTrainerState(state)).toEqual([]);
  });
});
