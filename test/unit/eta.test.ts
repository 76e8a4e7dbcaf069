import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentAttempt, etaSeconds, measurePace, paceFromRecords, paceSamples, type PaceSample } from '../../src/core/eta.js';
import type { TrainerRecord } from '../../src/core/run.js';
import { parseTrainerLog } from '../../src/core/trainerlog.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'llamafactory');
const fixtureRecords = (name: string) => parseTrainerLog(readFileSync(join(FIX, name, 'output', 'trainer_log.jsonl'), 'utf8')).records;

const at = (pairs: [number, number][]): PaceSample[] => pairs.map(([step, seconds]) => ({ step, seconds }));

function clock(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

describe('measurePace', () => {
  it.each([
    { name: 'no samples', samples: [], want: null },
    { name: 'one sample', samples: at([[10, 41]]), want: null },
    {
      name: 'whole-second clock not moved yet',
      samples: at([
        [1, 0],
        [2, 0],
        [3, 0],
      ]),
      want: null,
    },
    {
      name: 'span under the 3 s minimum',
      samples: at([
        [1, 4],
        [2, 6],
      ]),
      want: null,
    },
    {
      name: 'no progress',
      samples: at([
        [5, 10],
        [5, 20],
      ]),
      want: null,
    },
    {
      name: 'steady 2 s/step',
      samples: at([
        [10, 20],
        [20, 40],
        [30, 60],
      ]),
      want: 0.5,
    },
    {
      name: 'sparse logging still pairs the last two',
      samples: at([
        [100, 0],
        [200, 1000],
        [300, 2000],
      ]),
      want: 0.1,
    },
  ])('$name', ({ samples, want }) => {
    const pace = measurePace(samples);
    if (want === null) expect(pace).toBeNull();
    else expect(pace?.stepsPerSecond).toBeCloseTo(want, 6);
  });

  it('forgets a slow start once it is out of the window', () => {
    // 100 slow steps (10 s each), then 1 s per step for 20 minutes.
    const samples: PaceSample[] = [];
    for (let s = 0; s <= 100; s += 10) samples.push({ step: s, seconds: s * 10 });
    for (let s = 110; s <= 1300; s += 10) samples.push({ step: s, seconds: 1000 + (s - 100) });
    const pace = measurePace(samples, { windowSeconds: 600 });
    expect(pace?.stepsPerSecond).toBeCloseTo(1, 6);
    expect(pace?.spanSeconds).toBeLessThanOrEqual(600);
  });

  it('measures tokens per second over the same window', () => {
    const pace = measurePace([
      { step: 10, seconds: 10, tokens: 1000 },
      { step: 20, seconds: 20, tokens: 6000 },
    ]);
    expect(pace?.tokensPerSecond).toBe(500);
  });
});

describe('etaSeconds', () => {
  const pace = measurePace(
    at([
      [0, 0],
      [100, 200],
    ]),
  )!;
  it.each([
    { total: 1100, since: 0, want: 2000 },
    { total: 1100, since: 30, want: 1970 },
    { total: 1100, since: 5000, want: 0 },
    { total: 100, since: 0, want: 0 },
    { total: null, since: 0, want: null },
  ])('total $total, $since s since the last sample -> $want', ({ total, since, want }) => {
    expect(etaSeconds(pace, total, since)).toBe(want);
  });

  it('is null without a pace', () => {
    expect(etaSeconds(null, 100)).toBeNull();
  });
});

describe('pace from trainer records', () => {
  it("after a resume, uses only the current attempt (LLaMA-Factory's remaining_time does not)", () => {
    // Attempt 0 ran steps 1..1000 at 1 step/s; attempt 1 resumed from 1000 and runs at 1 step/s too, logging
    // every 10 steps. LLaMA-Factory divides the new attempt's clock by the global step.
    const records: TrainerRecord[] = [];
    for (let s = 10; s <= 1000; s += 10) records.push({ step: s, totalSteps: 2000, elapsed: clock(s), attempt: 0 });
    for (let s = 1010; s <= 1100; s += 10) {
      const elapsed = s - 1000;
      records.push({
        step: s,
        totalSteps: 2000,
        elapsed: clock(elapsed),
        remaining: clock(Math.floor(((2000 - s) * elapsed) / s)),
        attempt: 1,
      });
    }
    expect(currentAttempt(records)).toBe(1);
    const pace = paceFromRecords(records);
    expect(pace?.stepsPerSecond).toBeCloseTo(1, 6);
    expect(etaSeconds(pace, 2000)).toBeCloseTo(900, 6);
    // What LLaMA-Factory printed at step 1100: 900 steps * 100 s / 1100 steps.
    expect(records[records.length - 1]?.remaining).toBe('0:01:21');
  });

  it('resume fixture: samples come from attempt 1 only, in order', () => {
    const records = fixtureRecords('resume');
    const samples = paceSamples(records);
    expect(samples[0]).toMatchObject({ step: 11, seconds: 13 });
    expect(samples.map((s) => s.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 11));
    expect(paceSamples(records, 0).map((s) => s.step)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    const pace = paceFromRecords(records);
    expect(pace?.stepsPerSecond).toBeCloseTo(19 / 39, 6);
    expect(pace?.tokensPerSecond).toBeCloseTo((30720 - 11264) / 39, 6);
  });

  it('a run too short for whole seconds has no pace', () => {
    const records: TrainerRecord[] = Array.from({ length: 40 }, (_, i) => ({
      step: i + 1,
      totalSteps: 40,
      elapsed: '0:00:00',
      attempt: 0,
    }));
    expect(paceFromRecords(records)).toBeNull();
  });

  it('skips records without a readable clock', () => {
    const records: TrainerRecord[] = [
      { step: 1, totalSteps: 9, attempt: 0 },
      { step: 2, totalSteps: 9, elapsed: 'soon', attempt: 0 },
      { step: 3, totalSteps: 9, elapsed: '0:00:10', attempt: 0 },
    ];
    expect(paceSamples(records)).toEqual([{ step: 3, seconds: 10 }]);
  });
});
